//! The `print fmt:` line of a tracepoint format, parsed and evaluated the way
//! libtraceevent does it for `perf script`.
//!
//! The aim is the same text perf prints, byte for byte, including
//! libtraceevent's quirks: operators of equal priority group to the right,
//! a parenthesised right operand of looser priority is rotated into the
//! tree, field values are read without sign extension and combined as
//! unsigned 64-bit numbers, `^` evaluates to 0, `%pK` prints the pointer
//! followed by a literal `K`, and so on. Where libtraceevent cannot parse a
//! print fmt (an unknown helper function such as `jiffies_to_msecs`, a
//! statement expression, more conversions than arguments), [`PrintFmt::parse`]
//! fails too, and [`super::format::TracepointFormat::format_event`] prints
//! `[FAILED TO PARSE]` followed by the fields, as perf does.
//!
//! The reference is the libtraceevent inside perf 6.1, the perf the tests
//! compare with (`analyze/tests/tracepoint_print_vs_perf.rs`). Later
//! libtraceevent releases also know `sizeof()`, `__get_cpumask()` and
//! `__get_sockaddr()`, accept operators in the arguments of `__print_array`
//! and `__print_hex`, fold constant operators, and end a quoted string at a
//! tab; perf 6.1 does none of these, and neither does this module. ftrace's
//! `bprint` events, which need the kernel's printk formats, print their
//! format's raw arguments rather than the message.
//!
//! Everything here is pure: no I/O, no panics on any input, recursion and
//! output bounded (see [`MAX_DEPTH`] and [`MAX_OUTPUT`]).

use super::format::{Field, FieldKind, KernelSymbolizer};

/// The size of a C `long` in the traced kernel. strobe records 64-bit
/// kernels only, like the perf.data files it reads on this machine.
const LONG_SIZE: u32 = 8;

/// The deepest nesting of print-fmt expressions accepted. Real formats nest
/// about a dozen levels (the GFP flag tables); the bound keeps the recursive
/// parser and evaluator far from the end of a thread's stack on hostile input.
pub const MAX_DEPTH: usize = 200;

/// The most bytes one event's text may take. libtraceevent has no bound,
/// but a width of `%999999999d` or a huge flag table must not exhaust memory.
pub const MAX_OUTPUT: usize = 1 << 20;

/// The widest field width or precision honoured, for the same reason.
const MAX_PAD: usize = 4096;

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// Token classes, as libtraceevent's tokenizer sorts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// End of input, or a character libtraceevent refuses (non-printable).
    End,
    /// An operator such as `+`, `->`, `<<=` or `?`.
    Op,
    /// `(`, `)` or `,`.
    Delim,
    /// A run of letters, digits and underscores.
    Item,
    /// A double-quoted string, quotes removed, backslashes kept.
    DQuote,
    /// A single-quoted character.
    SQuote,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: Kind,
    text: String,
}

impl Token {
    fn new(kind: Kind, text: impl Into<String>) -> Self {
        Token {
            kind,
            text: text.into(),
        }
    }

    fn end() -> Self {
        Token::new(Kind::End, "")
    }

    fn is(&self, kind: Kind, text: &str) -> bool {
        self.kind == kind && self.text == text
    }
}

fn is_print(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// libtraceevent's tokenizer. Whitespace, newlines included, separates
/// tokens and is skipped: the print fmt is one line.
struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a [u8]) -> Self {
        Lexer { input, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn next_token(&mut self) -> Token {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
        let Some(c) = self.bump() else {
            return Token::end();
        };
        if is_word(c) {
            let start = self.pos - 1;
            while self.peek().is_some_and(is_word) {
                self.pos += 1;
            }
            let word = String::from_utf8_lossy(&self.input[start..self.pos]).into_owned();
            // libtraceevent rewrites three macros that old kernels leaked
            // into mac80211's formats; doing the same keeps those parseable.
            return match word.as_str() {
                "LOCAL_PR_FMT" => Token::new(Kind::DQuote, "%s"),
                "STA_PR_FMT" => Token::new(Kind::DQuote, " sta:%pM"),
                "VIF_PR_FMT" => Token::new(Kind::DQuote, " vif:%p(%d)"),
                _ => Token::new(Kind::Item, word),
            };
        }
        match c {
            b'"' | b'\'' => self.quoted(c),
            _ if !is_print(c) => Token::end(),
            b'(' | b')' | b',' => Token::new(Kind::Delim, char::from(c).to_string()),
            _ => self.operator(c),
        }
    }

    fn operator(&mut self, c: u8) -> Token {
        let mut op = vec![c];
        let test_equal = match c {
            b'-' if self.peek() == Some(b'>') => {
                self.pos += 1;
                op.push(b'>');
                false
            }
            b'-' | b'+' | b'|' | b'&' | b'>' | b'<' => {
                if self.peek() == Some(c) {
                    self.pos += 1;
                    op.push(c);
                    matches!(c, b'>' | b'<')
                } else {
                    true
                }
            }
            b'!' | b'=' => true,
            _ => false,
        };
        if test_equal && self.peek() == Some(b'=') {
            self.pos += 1;
            op.push(b'=');
        }
        Token::new(Kind::Op, String::from_utf8_lossy(&op).into_owned())
    }

    /// A quoted string. As in perf 6.1's libtraceevent, a backslash only
    /// protects the next character from ending the string (it stays in the
    /// text), any other byte (a tab, a newline) is part of the string, an
    /// unterminated string is invalid, and adjacent double-quoted strings
    /// join into one.
    fn quoted(&mut self, quote: u8) -> Token {
        let mut text = Vec::new();
        let mut valid = true;
        'concat: loop {
            let mut ch = quote;
            loop {
                let mut last = ch;
                let Some(b) = self.bump() else {
                    valid = false;
                    break 'concat;
                };
                ch = b;
                // Two backslashes cancel for this character only: the next
                // one still sees a backslash before it, as in libtraceevent.
                if ch == b'\\' && last == b'\\' {
                    last = 0;
                }
                if ch == quote && last != b'\\' {
                    break;
                }
                text.push(ch);
            }
            if quote != b'"' {
                break;
            }
            let save = self.pos;
            while self.peek().is_some_and(is_space) {
                self.pos += 1;
            }
            if self.peek() == Some(b'"') {
                self.pos += 1;
                continue;
            }
            self.pos = save;
            break;
        }
        if !valid {
            return Token::end();
        }
        let kind = if quote == b'"' {
            Kind::DQuote
        } else {
            Kind::SQuote
        };
        Token::new(kind, String::from_utf8_lossy(&text).into_owned())
    }
}

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

/// One argument of the print fmt, as libtraceevent's `tep_print_arg`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    /// The missing left side of a unary operator.
    Null,
    /// A number, a name that is not a field, or a string literal.
    Atom(String),
    /// `REC->name`; `field` indexes the event's fields.
    Field { name: String, field: Option<usize> },
    /// `__print_flags(value, delim, { mask, "name" }, ...)`.
    Flags {
        value: Box<Arg>,
        delim: Option<String>,
        table: Vec<(u64, String)>,
    },
    /// `__print_symbolic(value, { value, "name" }, ...)`.
    Symbolic {
        value: Box<Arg>,
        table: Vec<(u64, String)>,
    },
    /// `__print_hex` (bytes separated by spaces) and `__print_hex_str`.
    Hex {
        field: Box<Arg>,
        len: Box<Arg>,
        spaced: bool,
    },
    /// `__print_array(array, count, element size)`.
    IntArray {
        field: Box<Arg>,
        count: Box<Arg>,
        el_size: Box<Arg>,
    },
    /// A cast, `(type)item`.
    Cast { type_name: String, item: Box<Arg> },
    /// `__get_str(name)`.
    Str(String),
    /// `__get_bitmask(name)`.
    Bitmask(String),
    /// `__get_dynamic_array(name)`, by field index.
    DynArray(usize),
    /// `__get_dynamic_array_len(name)`, by field index.
    DynArrayLen(usize),
    /// An operator. Unary ones have a [`Arg::Null`] left side; `?` has a
    /// `:` operator on its right; `[` indexes its left side.
    Op {
        op: String,
        prio: i32,
        left: Box<Arg>,
        right: Box<Arg>,
    },
}

impl Arg {
    fn op(op: impl Into<String>, prio: i32, left: Arg, right: Arg) -> Arg {
        Arg::Op {
            op: op.into(),
            prio,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    /// libtraceevent's `enum tep_print_arg_type` number, which it prints in
    /// some error texts ("ARG TYPE NOT FIELD BUT 7").
    fn type_number(&self) -> u32 {
        match self {
            Arg::Null => 0,
            Arg::Atom(_) => 1,
            Arg::Field { .. } => 2,
            Arg::Flags { .. } => 3,
            Arg::Symbolic { .. } => 4,
            Arg::Hex { spaced: true, .. } => 5,
            Arg::IntArray { .. } => 6,
            Arg::Cast { .. } => 7,
            Arg::Str(_) => 8,
            Arg::DynArray(_) => 10,
            Arg::Op { .. } => 11,
            Arg::Bitmask(_) => 13,
            Arg::DynArrayLen(_) => 14,
            Arg::Hex { spaced: false, .. } => 15,
        }
    }

    fn strip_casts(&self) -> &Arg {
        let mut arg = self;
        while let Arg::Cast { item, .. } = arg {
            arg = item;
        }
        arg
    }
}

/// Operator priorities from libtraceevent's `get_op_prio`: smaller binds
/// tighter, -1 is not a binary operator.
fn op_prio(op: &str) -> i32 {
    match op {
        "~" | "!" => 4,
        "*" | "/" | "%" => 6,
        "+" | "-" => 7,
        "<<" | ">>" => 8,
        "<" | ">" | "<=" | ">=" => 9,
        "==" | "!=" => 10,
        "&" => 11,
        "^" => 12,
        "|" => 13,
        "&&" => 14,
        "||" => 15,
        "?" => 16,
        "++" | "--" => 3,
        _ => -1,
    }
}

const BINARY_OPS: [&str; 18] = [
    ">>", "<<", "&", "|", "&&", "||", "-", "+", "*", "^", "/", "%", "<", ">", "<=", ">=", "==",
    "!=",
];

/// Which operand of an operator later operators of no looser priority
/// attach to, mirroring the pointer libtraceevent keeps for that purpose.
#[derive(Debug, Clone, Copy)]
enum Target {
    Left,
    Right,
    Root,
}

type ParseResult<T> = Result<T, String>;

struct Parser<'a> {
    lex: Lexer<'a>,
    fields: &'a [Field],
    depth: usize,
}

impl<'a> Parser<'a> {
    fn read(&mut self) -> Token {
        self.lex.next_token()
    }

    fn enter(&mut self) -> ParseResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("expressions nest deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn find_any_field(&self, name: &str) -> Option<usize> {
        find_any_field(self.fields, name)
    }

    fn find_event_field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| !f.common && f.name == name)
    }

    fn expect(&self, token: &Token, kind: Kind, text: &str) -> ParseResult<()> {
        if token.is(kind, text) {
            Ok(())
        } else {
            Err(format!("expected `{text}` but found `{}`", token.text))
        }
    }

    fn process_arg(&mut self) -> ParseResult<(Arg, Token)> {
        let token = self.read();
        self.process_arg_token(token)
    }

    fn process_arg_token(&mut self, token: Token) -> ParseResult<(Arg, Token)> {
        self.enter()?;
        let result = self.arg_token(token);
        self.depth -= 1;
        result
    }

    fn arg_token(&mut self, token: Token) -> ParseResult<(Arg, Token)> {
        match token.kind {
            Kind::Item => {
                if token.text == "REC" {
                    return self.process_entry();
                }
                let mut atom = token.text;
                let mut next = self.read();
                if next.is(Kind::Delim, "(") {
                    return self.process_function(&atom);
                }
                // Atoms can be several words: `unsigned long`.
                while next.kind == Kind::Item {
                    atom.push(' ');
                    atom.push_str(&next.text);
                    next = self.read();
                }
                Ok((Arg::Atom(atom), next))
            }
            Kind::SQuote => {
                // A character constant is its (signed) byte value.
                let value = token.text.bytes().next().map_or(0, |b| i32::from(b as i8));
                Ok((Arg::Atom(value.to_string()), self.read()))
            }
            Kind::DQuote => Ok((Arg::Atom(token.text), self.read())),
            Kind::Delim if token.text == "(" => self.process_paren(),
            Kind::Delim | Kind::Op => self.process_unary(token),
            Kind::End => Err("the print fmt ends in the middle of an argument".into()),
        }
    }

    fn process_unary(&mut self, token: Token) -> ParseResult<(Arg, Token)> {
        if !matches!(token.text.as_str(), "~" | "!" | "+" | "-") {
            return Err(format!("unexpected `{}`", token.text));
        }
        let (operand, next) = self.process_arg()?;
        let node = Arg::op(token.text, 0, Arg::Null, operand);
        self.continue_op(node, Target::Right, next)
    }

    /// After an operator node is built: a following operator of looser
    /// priority takes the whole node as its left side, one of the same or
    /// tighter priority takes the target operand (so equal priorities group
    /// to the right, as in libtraceevent).
    fn continue_op(
        &mut self,
        mut node: Arg,
        target: Target,
        token: Token,
    ) -> ParseResult<(Arg, Token)> {
        if token.kind != Kind::Op || token.text == ":" {
            return Ok((node, token));
        }
        let prio = op_prio(&token.text);
        if prio < 0 {
            return Err(format!("unknown operator `{}`", token.text));
        }
        let node_prio = match &node {
            Arg::Op { prio, .. } => *prio,
            _ => 0,
        };
        if prio > node_prio {
            return self.process_op(node, token);
        }
        let slot = match (&mut node, target) {
            (Arg::Op { right, .. }, Target::Right) => right,
            (Arg::Op { left, .. }, Target::Left) => left,
            _ => return self.process_op(node, token),
        };
        let operand = std::mem::replace(slot.as_mut(), Arg::Null);
        let (operand, next) = self.process_op(operand, token)?;
        **slot = operand;
        Ok((node, next))
    }

    fn process_op(&mut self, arg: Arg, token: Token) -> ParseResult<(Arg, Token)> {
        self.enter()?;
        let result = self.op(arg, token);
        self.depth -= 1;
        result
    }

    fn op(&mut self, arg: Arg, token: Token) -> ParseResult<(Arg, Token)> {
        let op = token.text;
        if op == "?" {
            let (mut left, mut next) = self.process_arg()?;
            while next.kind == Kind::Op && next.text != ":" {
                (left, next) = self.process_op(left, next)?;
            }
            self.expect(&next, Kind::Op, ":")?;
            let (right, next) = self.process_arg()?;
            let node = Arg::op("?", 0, arg, Arg::op(":", 0, left, right));
            return self.continue_op(node, Target::Root, next);
        }
        if BINARY_OPS.contains(&op.as_str()) {
            let prio = if arg == Arg::Null { 0 } else { op_prio(&op) };
            let next = self.read();
            // `(void *)` reaches here as the atom `void` times nothing.
            if op == "*" && next.is(Kind::Delim, ")") {
                return match arg {
                    Arg::Atom(mut atom) => {
                        atom.push_str(" *");
                        Ok((Arg::Atom(atom), next))
                    }
                    _ => Err("`*` before `)` after something that is not a type".into()),
                };
            }
            let (right, next) = self.process_arg_token(next)?;
            if let Arg::Op {
                op: right_op,
                prio: right_prio,
                left: right_left,
                right: right_right,
            } = right
            {
                if op_prio(&op) < op_prio(&right_op) {
                    // libtraceevent rotates a looser operator on the right
                    // (from a unary minus, a ternary or even parentheses)
                    // above this one.
                    let inner = Arg::Op {
                        op,
                        prio,
                        left: Box::new(arg),
                        right: right_left,
                    };
                    let node = Arg::Op {
                        op: right_op,
                        prio: right_prio,
                        left: Box::new(inner),
                        right: right_right,
                    };
                    return self.continue_op(node, Target::Left, next);
                }
                let right = Arg::Op {
                    op: right_op,
                    prio: right_prio,
                    left: right_left,
                    right: right_right,
                };
                return self.continue_op(Arg::op(op, prio, arg, right), Target::Right, next);
            }
            return self.continue_op(Arg::op(op, prio, arg, right), Target::Right, next);
        }
        if op == "[" {
            let (index, next) = self.process_arg()?;
            self.expect(&next, Kind::Op, "]")?;
            let next = self.read();
            return self.continue_op(Arg::op("[", 0, arg, index), Target::Root, next);
        }
        Err(format!("unknown operator `{op}`"))
    }

    fn process_entry(&mut self) -> ParseResult<(Arg, Token)> {
        let token = self.read();
        if token.is(Kind::Delim, ")") {
            // `(REC)->field`: tell the enclosing parenthesis.
            return Ok((Arg::Null, Token::new(Kind::Item, ")")));
        }
        self.expect(&token, Kind::Op, "->")?;
        let name = self.read();
        if name.kind != Kind::Item {
            return Err(format!(
                "expected a field name after `REC->`, found `{}`",
                name.text
            ));
        }
        let field = self.find_any_field(&name.text);
        let next = self.read();
        Ok((
            Arg::Field {
                name: name.text,
                field,
            },
            next,
        ))
    }

    fn process_paren(&mut self) -> ParseResult<(Arg, Token)> {
        let (mut arg, mut token) = self.process_arg()?;
        if token.kind == Kind::Op {
            (arg, token) = self.process_op(arg, token)?;
        }
        if token.is(Kind::Item, ")") {
            return self.process_entry();
        }
        self.expect(&token, Kind::Delim, ")")?;
        let next = self.read();
        // A parenthesis followed by an operand was a cast.
        if matches!(next.kind, Kind::Item | Kind::DQuote | Kind::SQuote)
            || next.is(Kind::Delim, "(")
        {
            let Arg::Atom(type_name) = arg else {
                return Err("a cast's type is not a name".into());
            };
            let (item, next) = self.process_arg_token(next)?;
            return Ok((
                Arg::Cast {
                    type_name,
                    item: Box::new(item),
                },
                next,
            ));
        }
        Ok((arg, next))
    }

    fn process_function(&mut self, name: &str) -> ParseResult<(Arg, Token)> {
        match name {
            "__print_flags" => self.process_flags(),
            "__print_symbolic" => self.process_symbolic(),
            "__print_hex" => self.process_hex(true),
            "__print_hex_str" => self.process_hex(false),
            "__print_array" => {
                let field = self.arg_until(",")?;
                let count = self.arg_until(",")?;
                let el_size = self.arg_until(")")?;
                let next = self.read();
                Ok((
                    Arg::IntArray {
                        field: Box::new(field),
                        count: Box::new(count),
                        el_size: Box::new(el_size),
                    },
                    next,
                ))
            }
            "__get_str" | "__get_rel_str" => {
                let name = self.name_in_parens()?;
                Ok((Arg::Str(name), self.read()))
            }
            "__get_bitmask" | "__get_rel_bitmask" => {
                let name = self.name_in_parens()?;
                Ok((Arg::Bitmask(name), self.read()))
            }
            "__get_dynamic_array" | "__get_rel_dynamic_array" => {
                let field = self.event_field_in_parens()?;
                let next = self.read();
                if next.is(Kind::Op, "[") {
                    // libtraceevent rejects an index after the array.
                    return Err(format!("`{name}(...)[...]` is not supported"));
                }
                Ok((Arg::DynArray(field), next))
            }
            "__get_dynamic_array_len" | "__get_rel_dynamic_array_len" => {
                let field = self.event_field_in_parens()?;
                Ok((Arg::DynArrayLen(field), self.read()))
            }
            "__builtin_expect" => {
                let (arg, token) = self.process_arg()?;
                self.expect(&token, Kind::Delim, ",")?;
                let hint = self.read();
                if hint.kind != Kind::Item {
                    return Err("__builtin_expect's second argument is not a name".into());
                }
                let close = self.read();
                self.expect(&close, Kind::Delim, ")")?;
                Ok((arg, self.read()))
            }
            _ => Err(format!("function {name}() is not known to libtraceevent")),
        }
    }

    fn name_in_parens(&mut self) -> ParseResult<String> {
        let name = self.read();
        if name.kind != Kind::Item {
            return Err(format!("expected a field name, found `{}`", name.text));
        }
        let close = self.read();
        self.expect(&close, Kind::Delim, ")")?;
        Ok(name.text)
    }

    fn event_field_in_parens(&mut self) -> ParseResult<usize> {
        let name = self.read();
        if name.kind != Kind::Item {
            return Err(format!("expected a field name, found `{}`", name.text));
        }
        let field = self
            .find_event_field(&name.text)
            .ok_or_else(|| format!("no field `{}`", name.text))?;
        let close = self.read();
        self.expect(&close, Kind::Delim, ")")?;
        Ok(field)
    }

    /// One operand ending at `delim`, for `__print_hex` and `__print_array`.
    /// perf 6.1's libtraceevent takes no operators here (later versions
    /// do), so `len / sizeof(u64)` fails to parse.
    fn arg_until(&mut self, delim: &str) -> ParseResult<Arg> {
        let (arg, token) = self.process_arg()?;
        self.expect(&token, Kind::Delim, delim)?;
        Ok(arg)
    }

    /// The first argument of `__print_flags` and `__print_symbolic`.
    fn field_arg(&mut self) -> ParseResult<(Arg, Token)> {
        let (mut arg, mut token) = self.process_arg()?;
        while token.kind == Kind::Op {
            (arg, token) = self.process_op(arg, token)?;
        }
        Ok((arg, token))
    }

    fn process_flags(&mut self) -> ParseResult<(Arg, Token)> {
        let (value, token) = self.field_arg()?;
        self.expect(&token, Kind::Delim, ",")?;
        let mut token = self.read();
        let mut delim = None;
        if matches!(token.kind, Kind::Item | Kind::DQuote | Kind::SQuote) {
            delim = Some(token.text);
            token = self.read();
        }
        self.expect(&token, Kind::Delim, ",")?;
        let (table, token) = self.process_table()?;
        self.expect(&token, Kind::Delim, ")")?;
        let next = self.read();
        Ok((
            Arg::Flags {
                value: Box::new(value),
                delim,
                table,
            },
            next,
        ))
    }

    fn process_symbolic(&mut self) -> ParseResult<(Arg, Token)> {
        let (value, token) = self.field_arg()?;
        self.expect(&token, Kind::Delim, ",")?;
        let (table, token) = self.process_table()?;
        self.expect(&token, Kind::Delim, ")")?;
        let next = self.read();
        Ok((
            Arg::Symbolic {
                value: Box::new(value),
                table,
            },
            next,
        ))
    }

    /// `{ value, "name" }, ...`: each value is evaluated now, with
    /// libtraceevent's restricted constant arithmetic.
    fn process_table(&mut self) -> ParseResult<(Vec<(u64, String)>, Token)> {
        let mut table = Vec::new();
        loop {
            let token = self.read();
            if !token.is(Kind::Op, "{") {
                return Ok((table, token));
            }
            let (mut value, mut token) = self.process_arg()?;
            if token.kind == Kind::Op {
                (value, token) = self.process_op(value, token)?;
            }
            self.expect(&token, Kind::Delim, ",")?;
            let value = arg_eval(&value, 0).ok_or("a flag or symbol value is not a constant")?;
            let (name, token) = self.process_arg()?;
            self.expect(&token, Kind::Op, "}")?;
            let name = arg_eval(&name, 0).ok_or("a flag or symbol name is not a constant")?;
            table.push((eval_flag(&value) as u64, name));
            let token = self.read();
            if !token.is(Kind::Delim, ",") {
                return Ok((table, token));
            }
        }
    }

    fn process_hex(&mut self, spaced: bool) -> ParseResult<(Arg, Token)> {
        let field = self.arg_until(",")?;
        let len = self.arg_until(")")?;
        let next = self.read();
        Ok((
            Arg::Hex {
                field: Box::new(field),
                len: Box::new(len),
                spaced,
            },
            next,
        ))
    }
}

fn find_any_field(fields: &[Field], name: &str) -> Option<usize> {
    fields
        .iter()
        .position(|f| f.common && f.name == name)
        .or_else(|| fields.iter().position(|f| !f.common && f.name == name))
}

// ---------------------------------------------------------------------------
// Constant arithmetic
// ---------------------------------------------------------------------------

/// Parses an integer like C's `strtoull`/`strtoll` with base 0: leading
/// space, a sign, `0x` for hex, `0` for octal, and whatever digits follow.
/// Returns (negative, magnitude, overflowed).
fn c_integer(s: &str) -> (bool, u64, bool) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        negative = b[i] == b'-';
        i += 1;
    }
    let base = if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
        16
    } else if b.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let mut value: u64 = 0;
    let mut overflow = false;
    while let Some(digit) = b.get(i).and_then(|&c| char::from(c).to_digit(base)) {
        match value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(digit)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    (negative, value, overflow)
}

fn strtoull(s: &str) -> u64 {
    match c_integer(s) {
        (_, _, true) => u64::MAX,
        (true, v, false) => v.wrapping_neg(),
        (false, v, false) => v,
    }
}

fn strtoll(s: &str) -> i64 {
    match c_integer(s) {
        (true, v, overflow) => {
            if overflow || v > 1 << 63 {
                i64::MIN
            } else {
                (v as i64).wrapping_neg()
            }
        }
        (false, v, overflow) => {
            if overflow || v > i64::MAX as u64 {
                i64::MAX
            } else {
                v as i64
            }
        }
    }
}

/// The value of a flag or symbol table entry, as libtraceevent's
/// `eval_flag`: a number if it starts with a digit, a few softirq and
/// hrtimer names it knows, otherwise -1.
fn eval_flag(value: &str) -> i64 {
    if value.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return strtoull(value) as i64;
    }
    const KNOWN: [(&str, i64); 12] = [
        ("HI_SOFTIRQ", 0),
        ("TIMER_SOFTIRQ", 1),
        ("NET_TX_SOFTIRQ", 2),
        ("NET_RX_SOFTIRQ", 3),
        ("BLOCK_SOFTIRQ", 4),
        ("IRQ_POLL_SOFTIRQ", 5),
        ("TASKLET_SOFTIRQ", 6),
        ("SCHED_SOFTIRQ", 7),
        ("HRTIMER_SOFTIRQ", 8),
        ("RCU_SOFTIRQ", 9),
        ("HRTIMER_NORESTART", 0),
        ("HRTIMER_RESTART", 1),
    ];
    KNOWN
        .iter()
        .find(|(name, _)| *name == value)
        .map_or(-1, |&(_, v)| v)
}

/// What a cast does to a value (libtraceevent's `eval_type_str`): the
/// fixed-width kernel types and `char`/`short`/`int` truncate, and nothing
/// sign-extends. With `pointer`, a cast to `T *` applies the cast to `T`.
fn eval_type(value: u64, type_name: &str, pointer: bool) -> u64 {
    if type_name.len() < 2 {
        return value;
    }
    if pointer {
        if !type_name.ends_with('*') {
            return value;
        }
        let base = type_name.get(..type_name.len() - 2).unwrap_or("");
        return eval_type(value, base, false);
    }
    if type_name.ends_with('*') || type_name.starts_with("struct") {
        return value;
    }
    let name = type_name.strip_prefix("unsigned ").unwrap_or(type_name);
    match name {
        "u8" | "s8" | "char" => value & 0xff,
        "u16" | "s16" | "short" => value & 0xffff,
        "u32" | "s32" | "int" => value & 0xffff_ffff,
        _ => value,
    }
}

/// libtraceevent's `arg_num_eval`: signed arithmetic on constants, with
/// only the operators it knows. `None` makes the table entry, and with it
/// the whole print fmt, fail to parse.
fn arg_num_eval(arg: &Arg, depth: usize) -> Option<i64> {
    if depth > MAX_DEPTH {
        return None;
    }
    let both = |left: &Arg, right: &Arg| -> Option<(i64, i64)> {
        Some((
            arg_num_eval(left, depth + 1)?,
            arg_num_eval(right, depth + 1)?,
        ))
    };
    match arg {
        Arg::Atom(atom) => Some(strtoll(atom)),
        Arg::Cast { type_name, item } => {
            let value = arg_num_eval(item, depth + 1)?;
            Some(eval_type(value as u64, type_name, false) as i64)
        }
        Arg::Op {
            op, left, right, ..
        } => {
            let op = op.as_bytes();
            let second = op.get(1).copied();
            match op.first()? {
                b'|' => {
                    let (l, r) = both(left, right)?;
                    Some(if second.is_some() {
                        i64::from(l != 0 || r != 0)
                    } else {
                        l | r
                    })
                }
                b'&' => {
                    let (l, r) = both(left, right)?;
                    Some(if second.is_some() {
                        i64::from(l != 0 && r != 0)
                    } else {
                        l & r
                    })
                }
                b'<' => {
                    let (l, r) = both(left, right)?;
                    match second {
                        None => Some(i64::from(l < r)),
                        Some(b'<') => Some(l.wrapping_shl(r as u32)),
                        Some(b'=') => Some(i64::from(l <= r)),
                        _ => None,
                    }
                }
                b'>' => {
                    let (l, r) = both(left, right)?;
                    match second {
                        None => Some(i64::from(l > r)),
                        Some(b'>') => Some(l.wrapping_shr(r as u32)),
                        Some(b'=') => Some(i64::from(l >= r)),
                        _ => None,
                    }
                }
                b'=' => {
                    let (l, r) = both(left, right)?;
                    (second == Some(b'=')).then_some(i64::from(l == r))
                }
                b'!' => {
                    let (l, r) = both(left, right)?;
                    (second == Some(b'=')).then_some(i64::from(l != r))
                }
                b'-' | b'+' => {
                    let l = if **left == Arg::Null {
                        0
                    } else {
                        arg_num_eval(left, depth + 1)?
                    };
                    let r = arg_num_eval(right, depth + 1)?;
                    Some(if op[0] == b'-' {
                        l.wrapping_sub(r)
                    } else {
                        l.wrapping_add(r)
                    })
                }
                b'~' => Some(!arg_num_eval(right, depth + 1)?),
                _ => None,
            }
        }
        _ => None,
    }
}

/// libtraceevent's `arg_eval`: the text of a constant argument.
fn arg_eval(arg: &Arg, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    match arg {
        Arg::Atom(atom) => Some(atom.clone()),
        Arg::Cast { item, .. } => arg_eval(item, depth + 1),
        Arg::Op { .. } => arg_num_eval(arg, depth).map(|v| v.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The format string
// ---------------------------------------------------------------------------

/// How a conversion prints its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConvKind {
    /// `%d %u %x %c ...`; `length` is libtraceevent's `ls`: -2 for `hh`,
    /// -1 for `h`, 0 for none, 1 for `l`/`z`, 2 for `ll`/`L`.
    Number { length: i8 },
    /// `%p` and its extensions.
    Pointer,
    /// `%s`.
    Str,
}

/// One piece of the format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Vec<u8>),
    Conv {
        kind: ConvKind,
        /// The conversion's text, e.g. `%-16s` or `%pS`.
        spec: Vec<u8>,
        arg: usize,
        /// The argument that `*` takes, if any.
        len_arg: Option<usize>,
    },
}

/// The characters after `%p` that libtraceevent takes as part of the
/// conversion (`parse_arg_format_pointer`).
fn pointer_suffix(s: &[u8]) -> usize {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    match at(0) {
        b'F' | b'S' | b'f' | b's' => 1,
        b'M' | b'm' => 1 + usize::from(matches!(at(1), b'R' | b'F')),
        b'I' | b'i' => {
            let mut n = 0;
            let mut index = 2;
            let version = at(1);
            if matches!(version, b'S' | b'4' | b'6') {
                if version == b'S' {
                    while matches!(at(index), b'p' | b'f' | b's') {
                        n += 1;
                        index += 1;
                    }
                }
                let mut done = false;
                if matches!(version, b'S' | b'4') {
                    if matches!(at(index), b'h' | b'n' | b'l' | b'b') {
                        n += 1;
                        index += 1;
                    }
                    if version == b'4' {
                        n += 1;
                        done = true;
                    }
                }
                if !done {
                    if at(index) == b'c' {
                        n += 1;
                    }
                    n += 1;
                }
            }
            n + 1
        }
        b'U' => 1 + usize::from(matches!(at(1), b'L' | b'l' | b'B' | b'b')),
        b'h' => 1 + usize::from(matches!(at(1), b'C' | b'D' | b'N')),
        _ => 0,
    }
}

/// Splits the format string into literals and conversions, binding
/// arguments in order (libtraceevent's `parse_args`). Anything it would
/// mark the event as failed for is an error.
fn build_segments(format: &[u8], nargs: usize) -> ParseResult<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut pos = 0;
    let mut next_arg = 0;
    while pos < format.len() {
        if format[pos] == b'%' && format.get(pos + 1) != Some(&b'%') {
            pos += conversion(format, pos, nargs, &mut next_arg, &mut segments)?;
        } else {
            pos += literal(format, pos, &mut segments);
        }
    }
    Ok(segments)
}

/// A literal run starting at `start`, with `\n`-style escapes resolved and
/// `%%` made `%`. Returns the bytes consumed.
fn literal(format: &[u8], start: usize, segments: &mut Vec<Segment>) -> usize {
    let mut text = Vec::new();
    let mut i = start;
    while i < format.len() {
        match format[i] {
            b'\\' => {
                i += 1;
                match format.get(i) {
                    Some(b'n') => text.push(b'\n'),
                    Some(b't') => text.push(b'\t'),
                    Some(b'r') => text.push(b'\r'),
                    Some(&c) => text.push(c),
                    None => break,
                }
            }
            b'%' if format.get(i + 1) == Some(&b'%') => {
                text.push(b'%');
                i += 1;
            }
            b'%' => break,
            c => text.push(c),
        }
        i += 1;
    }
    segments.push(Segment::Literal(text));
    (i - start).max(1)
}

/// A conversion starting at `start` (a `%`). Returns the bytes consumed.
fn conversion(
    format: &[u8],
    start: usize,
    nargs: usize,
    next_arg: &mut usize,
    segments: &mut Vec<Segment>,
) -> ParseResult<usize> {
    let mut length: i32 = 0;
    let mut len_arg = None;
    let mut i = start + 1;
    let take_arg = |next_arg: &mut usize| -> ParseResult<usize> {
        if *next_arg >= nargs {
            return Err(format!(
                "the format has more conversions than the {nargs} arguments"
            ));
        }
        *next_arg += 1;
        Ok(*next_arg - 1)
    };
    while i < format.len() {
        let c = format[i];
        match c {
            b'#' | b'.' | b'0'..=b'9' | b'-' | b'+' => {}
            b'h' => length -= 1,
            b'l' => length += 1,
            b'L' => length = 2,
            b'z' | b'Z' => length = 1,
            b'*' => {
                if len_arg.is_some() {
                    return Err("a conversion has two `*`".into());
                }
                len_arg = Some(take_arg(next_arg)?);
            }
            b'p' => {
                let arg = take_arg(next_arg)?;
                i += pointer_suffix(&format[i + 1..]);
                let spec = format[start..=i.min(format.len() - 1)].to_vec();
                if spec.len() > 31 {
                    return Err("a conversion is longer than 31 characters".into());
                }
                segments.push(Segment::Conv {
                    kind: ConvKind::Pointer,
                    spec,
                    arg,
                    len_arg,
                });
                return Ok(i + 1 - start);
            }
            b'c' | b'd' | b'u' | b'i' | b'x' | b'X' | b'o' | b's' => {
                let arg = take_arg(next_arg)?;
                let spec = format[start..=i].to_vec();
                if spec.len() > 30 {
                    return Err("a conversion is longer than 30 characters".into());
                }
                let kind = if c == b's' {
                    ConvKind::Str
                } else {
                    if !(-2..=2).contains(&length) {
                        return Err(format!("bad length modifier count ({length})"));
                    }
                    ConvKind::Number {
                        length: length as i8,
                    }
                };
                segments.push(Segment::Conv {
                    kind,
                    spec,
                    arg,
                    len_arg,
                });
                return Ok(i + 1 - start);
            }
            _ => {
                // libtraceevent prints a conversion it does not know as
                // `>c<`, and goes on after it.
                segments.push(Segment::Literal(vec![b'>', c, b'<']));
                return Ok(i + 1 - start);
            }
        }
        i += 1;
    }
    // A conversion cut off by the end of the format prints nothing.
    Ok(i - start)
}

// ---------------------------------------------------------------------------
// printf
// ---------------------------------------------------------------------------

/// The parts of a C conversion that matter for output.
#[derive(Debug, Default, Clone, Copy)]
struct Printf {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: Option<usize>,
    precision: Option<usize>,
    conv: u8,
}

impl Printf {
    /// Parses `%[flags][width][.precision][length]conv`; a `*` takes
    /// `star`, as printf takes it from the argument list.
    fn parse(spec: &[u8], star: Option<i64>) -> Printf {
        let mut p = Printf {
            conv: spec.last().copied().unwrap_or(b's'),
            ..Printf::default()
        };
        let body = spec.get(1..spec.len().saturating_sub(1)).unwrap_or(&[]);
        let mut i = 0;
        while let Some(&c) = body.get(i) {
            match c {
                b'-' => p.left = true,
                b'0' => p.zero = true,
                b'+' => p.plus = true,
                b' ' => p.space = true,
                b'#' => p.alt = true,
                _ => break,
            }
            i += 1;
        }
        let number = |i: &mut usize| -> usize {
            let mut n: usize = 0;
            while let Some(d) = body.get(*i).filter(|c| c.is_ascii_digit()) {
                n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
                *i += 1;
            }
            n.min(MAX_PAD)
        };
        if body.get(i) == Some(&b'*') {
            i += 1;
            let w = star.unwrap_or(0);
            if w < 0 {
                p.left = true;
            }
            p.width = Some((w.unsigned_abs() as usize).min(MAX_PAD));
        } else if body.get(i).is_some_and(u8::is_ascii_digit) {
            p.width = Some(number(&mut i));
        }
        if body.get(i) == Some(&b'.') {
            i += 1;
            if body.get(i) == Some(&b'*') {
                let prec = star.unwrap_or(0);
                p.precision = (prec >= 0).then(|| (prec as usize).min(MAX_PAD));
            } else {
                p.precision = Some(number(&mut i));
            }
        }
        p
    }

    fn pad(&self, out: &mut Out, body_len: usize, body: impl FnOnce(&mut Out)) {
        let fill = self.width.unwrap_or(0).saturating_sub(body_len);
        if !self.left {
            out.fill(b' ', fill);
        }
        body(out);
        if self.left {
            out.fill(b' ', fill);
        }
    }

    /// `%s` of a C string.
    fn string(&self, out: &mut Out, s: &[u8]) {
        let s = c_str(s);
        let s = &s[..self.precision.map_or(s.len(), |p| p.min(s.len()))];
        self.pad(out, s.len(), |out| out.push(s));
    }

    /// An integer conversion of `value`, already cast to `bits` bits as
    /// libtraceevent casts it before calling printf.
    fn integer(&self, out: &mut Out, value: u64, bits: u32) {
        let truncated = if bits >= 64 {
            value
        } else {
            value & ((1u64 << bits) - 1)
        };
        if self.conv == b'c' {
            let c = [truncated as u8];
            self.pad(out, 1, |out| out.push(&c));
            return;
        }
        let (negative, magnitude) = match self.conv {
            b'd' | b'i' => {
                let shift = 64 - bits.min(64);
                let signed = ((truncated << shift) as i64) >> shift;
                (signed < 0, signed.unsigned_abs())
            }
            _ => (false, truncated),
        };
        let mut digits = match self.conv {
            b'x' => format!("{magnitude:x}"),
            b'X' => format!("{magnitude:X}"),
            b'o' => format!("{magnitude:o}"),
            _ => magnitude.to_string(),
        };
        if let Some(precision) = self.precision {
            if precision == 0 && magnitude == 0 {
                digits.clear();
            }
            if digits.len() < precision {
                digits.insert_str(0, &"0".repeat(precision - digits.len()));
            }
        }
        let mut prefix = String::new();
        if negative {
            prefix.push('-');
        } else if matches!(self.conv, b'd' | b'i') && self.plus {
            prefix.push('+');
        } else if matches!(self.conv, b'd' | b'i') && self.space {
            prefix.push(' ');
        }
        if self.alt {
            match self.conv {
                b'x' if magnitude != 0 => prefix.push_str("0x"),
                b'X' if magnitude != 0 => prefix.push_str("0X"),
                b'o' if !digits.starts_with('0') => digits.insert(0, '0'),
                _ => {}
            }
        }
        let len = prefix.len() + digits.len();
        if self.zero && !self.left && self.precision.is_none() {
            out.push(prefix.as_bytes());
            out.fill(b'0', self.width.unwrap_or(0).saturating_sub(len));
            out.push(digits.as_bytes());
        } else {
            self.pad(out, len, |out| {
                out.push(prefix.as_bytes());
                out.push(digits.as_bytes());
            });
        }
    }
}

/// The bytes of a C string: up to the first NUL.
fn c_str(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// The output of one event, bounded by [`MAX_OUTPUT`].
#[derive(Debug, Default)]
struct Out {
    buf: Vec<u8>,
}

impl Out {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_OUTPUT.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn push_str(&mut self, s: &str) {
        self.push(s.as_bytes());
    }

    fn fill(&mut self, byte: u8, count: usize) {
        let room = MAX_OUTPUT.saturating_sub(self.buf.len());
        self.buf.extend(std::iter::repeat_n(byte, count.min(room)));
    }

    fn full(&self) -> bool {
        self.buf.len() >= MAX_OUTPUT
    }
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/// Reads a little-endian number of 1, 2, 4 or 8 bytes; other sizes, and
/// bytes outside the record, read as 0 (libtraceevent reads 0 for the
/// former and whatever memory follows the record for the latter).
fn read_number(data: &[u8], offset: u64, size: u64) -> u64 {
    if !matches!(size, 1 | 2 | 4 | 8) {
        return 0;
    }
    let Some(bytes) = slice(data, offset, size) else {
        return 0;
    };
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(buf)
}

fn slice(data: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    data.get(start..end)
}

/// Bytes from `offset` to the end of the record (empty if outside).
fn tail(data: &[u8], offset: u64) -> &[u8] {
    usize::try_from(offset)
        .ok()
        .and_then(|o| data.get(o..))
        .unwrap_or(&[])
}

/// Where a `__data_loc`/`__rel_loc` field's data is, as libtraceevent's
/// `dynamic_offset_field` computes it (with its 32-bit arithmetic).
fn dynamic_location(field: &Field, data: &[u8]) -> (u32, u32) {
    let size = data.len() as u64;
    if u64::from(field.offset) + u64::from(field.size) > size {
        return (0, 0);
    }
    let size = size as u32;
    let value = read_number(data, field.offset.into(), field.size.into());
    let o = (value & 0xffff) as u32;
    let l = if field.size == 2 {
        size.wrapping_sub(o)
    } else {
        ((value >> 16) & 0xffff) as u32
    };
    let mut offset = if o > size { 0 } else { o };
    let len = if o.wrapping_add(l) > size { 0 } else { l };
    if matches!(field.kind, FieldKind::DataLoc { relative: true }) {
        offset = offset.wrapping_add(field.offset).wrapping_add(field.size);
    }
    (offset, len)
}

struct Eval<'a> {
    fields: &'a [Field],
    data: &'a [u8],
    symbols: &'a dyn KernelSymbolizer,
}

impl<'a> Eval<'a> {
    fn field(&self, index: Option<usize>) -> Option<&'a Field> {
        index.and_then(|i| self.fields.get(i))
    }

    /// libtraceevent's `eval_num_arg`.
    fn num(&self, arg: &Arg, depth: usize) -> u64 {
        if depth > MAX_DEPTH {
            return 0;
        }
        match arg {
            Arg::Null => 0,
            Arg::Atom(atom) => strtoull(atom),
            Arg::Field { field, .. } => match self.field(*field) {
                Some(f) => read_number(self.data, f.offset.into(), f.size.into()),
                None => 0,
            },
            Arg::Cast { type_name, item } => eval_type(self.num(item, depth + 1), type_name, false),
            Arg::DynArrayLen(field) => self
                .fields
                .get(*field)
                .map_or(0, |f| u64::from(dynamic_location(f, self.data).1)),
            // libtraceevent yields the address of the array in its own
            // memory; the offset into the record is the stable equivalent.
            Arg::DynArray(field) => self
                .fields
                .get(*field)
                .map_or(0, |f| u64::from(dynamic_location(f, self.data).0)),
            Arg::Op {
                op, left, right, ..
            } => self.op(op, left, right, depth),
            _ => 0,
        }
    }

    fn op(&self, op: &str, left: &Arg, right: &Arg, depth: usize) -> u64 {
        if op == "[" {
            return self.index(left, right, depth);
        }
        if op == "?" {
            let Arg::Op {
                left: yes,
                right: no,
                ..
            } = right
            else {
                return 0;
            };
            return if self.num(left, depth + 1) != 0 {
                self.num(yes, depth + 1)
            } else {
                self.num(no, depth + 1)
            };
        }
        let l = self.num(left, depth + 1);
        let r = self.num(right, depth + 1);
        let b = op.as_bytes();
        let second = b.get(1).copied();
        match (b.first(), second) {
            (Some(b'!'), None) => u64::from(r == 0),
            (Some(b'!'), Some(b'=')) => u64::from(l != r),
            (Some(b'~'), _) => !r,
            (Some(b'|'), Some(_)) => u64::from(l != 0 || r != 0),
            (Some(b'|'), None) => l | r,
            (Some(b'&'), Some(_)) => u64::from(l != 0 && r != 0),
            (Some(b'&'), None) => l & r,
            (Some(b'<'), None) => u64::from(l < r),
            (Some(b'<'), Some(b'<')) => l.wrapping_shl(r as u32),
            (Some(b'<'), Some(b'=')) => u64::from(l <= r),
            (Some(b'>'), None) => u64::from(l > r),
            (Some(b'>'), Some(b'>')) => l.wrapping_shr(r as u32),
            (Some(b'>'), Some(b'=')) => u64::from(l >= r),
            (Some(b'='), Some(b'=')) => u64::from(l == r),
            (Some(b'-'), _) => l.wrapping_sub(r),
            (Some(b'+'), _) => l.wrapping_add(r),
            (Some(b'/'), _) => l.checked_div(r).unwrap_or(0),
            (Some(b'%'), _) => l.checked_rem(r).unwrap_or(0),
            (Some(b'*'), _) => l.wrapping_mul(r),
            // libtraceevent has no run-time `^`: it evaluates to 0.
            _ => 0,
        }
    }

    /// `array[index]` for fixed arrays and `__get_dynamic_array`, with the
    /// first cast on the array (`((u32 *)REC->a)[1]`) applied to the element.
    fn index(&self, left: &Arg, right: &Arg, depth: usize) -> u64 {
        let index = self.num(right, depth + 1);
        let mut cast = None;
        let mut base = left;
        while let Arg::Cast { type_name, item } = base {
            cast.get_or_insert(type_name.as_str());
            base = item;
        }
        let (offset, size) = match base {
            Arg::DynArray(field) => {
                let Some(f) = self.fields.get(*field) else {
                    return 0;
                };
                let (offset, _) = dynamic_location(f, self.data);
                let size = match f.lte_element_size() {
                    0 => LONG_SIZE,
                    n => n,
                };
                (
                    u64::from(offset.wrapping_add(index as u32)),
                    u64::from(size),
                )
            }
            Arg::Field { field, .. } => {
                let Some(f) = self.field(*field) else {
                    return 0;
                };
                let size = f.lte_element_size();
                let offset = f.offset.wrapping_add((index as u32).wrapping_mul(size));
                (u64::from(offset), u64::from(size))
            }
            // libtraceevent falls back to its generic operator code, which
            // knows no `[` and yields 0.
            _ => return 0,
        };
        if offset + size > self.data.len() as u64 {
            return 0;
        }
        let value = read_number(self.data, offset, size);
        match cast {
            Some(type_name) => eval_type(value, type_name, true),
            None => value,
        }
    }

    /// The `%s` of an argument (libtraceevent's `print_str_arg`).
    fn string_arg(&self, out: &mut Out, spec: &Printf, arg: &Arg, depth: usize) {
        if depth > MAX_DEPTH || out.full() {
            return;
        }
        match arg {
            Arg::Atom(atom) => spec.string(out, atom.as_bytes()),
            Arg::Field { field, .. } => {
                let Some(f) = self.field(*field) else {
                    return;
                };
                if !f.lte_is_array() && f.size == LONG_SIZE {
                    // A pointer-sized field printed with %s is shown as a
                    // bare hex address, unless it is a known kernel string.
                    let addr = read_number(self.data, f.offset.into(), 8);
                    match self.symbols.printk_string(addr) {
                        Some(s) => out.push_str(s),
                        None => out.push_str(&format!("{addr:x}")),
                    }
                    return;
                }
                let bytes = if f.size == 0 {
                    tail(self.data, f.offset.into())
                } else {
                    let start = tail(self.data, f.offset.into());
                    &start[..start.len().min(f.size as usize)]
                };
                spec.string(out, bytes);
            }
            Arg::Flags {
                value,
                delim,
                table,
            } => {
                let mut value = self.num(value, depth + 1) as i64;
                let mut printed = false;
                for (flag, name) in table {
                    let flag = *flag as i64;
                    if value == 0 && flag < 0 {
                        spec.string(out, name.as_bytes());
                        break;
                    }
                    if flag > 0 && value & flag == flag {
                        if printed {
                            if let Some(d) = delim {
                                out.push_str(d);
                            }
                        }
                        spec.string(out, name.as_bytes());
                        printed = true;
                        value &= !flag;
                    }
                }
                if value != 0 {
                    if printed {
                        if let Some(d) = delim {
                            out.push_str(d);
                        }
                    }
                    out.push_str(&format!("0x{:x}", value as u64));
                }
            }
            Arg::Symbolic { value, table } => {
                let value = self.num(value, depth + 1);
                match table.iter().find(|(v, _)| *v == value) {
                    Some((_, name)) => spec.string(out, name.as_bytes()),
                    None => out.push_str(&format!("0x{value:x}")),
                }
            }
            Arg::Hex { field, len, spaced } => {
                let Some(bytes) = self.array_bytes(field) else {
                    return;
                };
                let len = self.num(len, depth + 1) as u32 as usize;
                for (i, b) in bytes.iter().take(len).enumerate() {
                    if out.full() {
                        break;
                    }
                    if i > 0 && *spaced {
                        out.push(b" ");
                    }
                    out.push_str(&format!("{b:02x}"));
                }
            }
            Arg::IntArray {
                field,
                count,
                el_size,
            } => {
                let Some(bytes) = self.array_bytes(field) else {
                    return;
                };
                let count = self.num(count, depth + 1) as u32;
                let mut el_size = self.num(el_size, depth + 1) as i32;
                out.push(b"{");
                let mut at = 0usize;
                for i in 0..count {
                    if out.full() {
                        break;
                    }
                    if i > 0 {
                        out.push(b",");
                    }
                    let size = if matches!(el_size, 1 | 2 | 4 | 8) {
                        el_size as usize
                    } else {
                        1
                    };
                    let Some(element) = bytes.get(at..at + size) else {
                        break;
                    };
                    if !matches!(el_size, 1 | 2 | 4 | 8) {
                        out.push_str(&format!("BAD SIZE:{el_size} 0x{:x}", element[0]));
                        el_size = 1;
                    } else {
                        let value = read_number(element, 0, size as u64);
                        out.push_str(&format!("0x{value:x}"));
                    }
                    at += size;
                }
                out.push(b"}");
            }
            Arg::Str(name) => {
                let Some(f) = find_any_field(self.fields, name).map(|i| &self.fields[i]) else {
                    return;
                };
                let (offset, len) = dynamic_location(f, self.data);
                if len == 0 {
                    return;
                }
                spec.string(out, tail(self.data, offset.into()));
            }
            Arg::Bitmask(name) => {
                let Some(f) = find_any_field(self.fields, name).map(|i| &self.fields[i]) else {
                    return;
                };
                let (offset, len) = dynamic_location(f, self.data);
                let bytes = slice(self.data, offset.into(), len.into()).unwrap_or(&[]);
                spec.string(out, bitmask_words(bytes).as_bytes());
            }
            Arg::Op {
                op, left, right, ..
            } if op == "?" => {
                let Arg::Op {
                    left: yes,
                    right: no,
                    ..
                } = right.as_ref()
                else {
                    return;
                };
                let chosen = if self.num(left, depth + 1) != 0 {
                    yes
                } else {
                    no
                };
                self.string_arg(out, spec, chosen, depth + 1);
            }
            // Casts, other operators and numbers print nothing with %s.
            _ => {}
        }
    }

    /// The bytes an array argument of `__print_hex`/`__print_array` starts
    /// at: a dynamic array's data or a field's.
    fn array_bytes(&self, arg: &Arg) -> Option<&'a [u8]> {
        match arg {
            Arg::DynArray(field) => {
                let f = self.fields.get(*field)?;
                Some(tail(self.data, dynamic_location(f, self.data).0.into()))
            }
            Arg::Field { field, .. } => {
                let f = self.field(*field)?;
                Some(tail(self.data, f.offset.into()))
            }
            _ => None,
        }
    }

    /// The `%p` family (libtraceevent's `print_arg_pointer`).
    fn pointer(&self, out: &mut Out, spec: &[u8], plen: i64, arg: &Arg) {
        let after = spec
            .iter()
            .position(|&c| c == b'p')
            .map_or(&[][..], |i| &spec[i + 1..]);
        match after.first() {
            Some(&c @ (b'F' | b'f' | b'S' | b's')) => {
                let addr = self.num(arg, 0);
                match self.symbols.symbolize(addr) {
                    Some((name, offset)) => {
                        out.push_str(name);
                        if matches!(c, b'F' | b'S') {
                            out.push_str(&format!("+0x{offset:x}"));
                        }
                    }
                    None => out.push_str(&format!("0x{addr:x}")),
                }
            }
            Some(b'M' | b'm') => self.mac(out, after, arg),
            Some(b'I' | b'i') => self.ip(out, after, arg),
            Some(b'U') => self.uuid(out, after, arg),
            Some(b'h') => self.raw_buffer(out, after, plen, arg),
            _ => {
                let value = self.num(arg, 0);
                if value == 0 {
                    out.push(b"(nil)");
                } else {
                    out.push_str(&format!("0x{value:x}"));
                }
            }
        }
    }

    /// The field a `%pM`/`%pI`/`%pU` argument names, casts stripped, or the
    /// text libtraceevent prints when it is something else.
    fn plain_field(&self, out: &mut Out, arg: &Arg) -> Option<&'a Field> {
        match arg.strip_casts() {
            Arg::Field { field, .. } => self.field(*field),
            other => {
                out.push_str(&format!("ARG TYPE NOT FIELD BUT {}", other.type_number()));
                None
            }
        }
    }

    fn mac(&self, out: &mut Out, suffix: &[u8], arg: &Arg) {
        let Some(f) = self.plain_field(out, arg) else {
            return;
        };
        if f.size != 6 {
            out.push(b"INVALIDMAC");
            return;
        }
        let Some(bytes) = slice(self.data, f.offset.into(), 6) else {
            return;
        };
        let separator = match (suffix.first(), suffix.get(1)) {
            (Some(b'm'), _) => "",
            (Some(b'M'), Some(b'F')) => "-",
            _ => ":",
        };
        let mut bytes = bytes.to_vec();
        if suffix.get(1) == Some(&b'R') {
            bytes.reverse();
        }
        let text: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&text.join(separator));
    }

    fn ip(&self, out: &mut Out, suffix: &[u8], arg: &Arg) {
        let leading_zeros = suffix.first() == Some(&b'i');
        let rest = suffix.get(2..).unwrap_or(&[]);
        match suffix.get(1) {
            Some(b'4') => {
                let reverse = matches!(rest.first(), Some(b'h' | b'l'));
                let Some(f) = self.plain_field(out, arg) else {
                    return;
                };
                if f.size != 4 {
                    out.push(b"INVALIDIPv4");
                    return;
                }
                if let Some(addr) = slice(self.data, f.offset.into(), 4) {
                    ipv4(out, leading_zeros, reverse, addr);
                }
            }
            Some(b'6') => {
                let compressed = !leading_zeros && rest.first() == Some(&b'c');
                let Some(f) = self.plain_field(out, arg) else {
                    return;
                };
                if f.size != 16 {
                    out.push(b"INVALIDIPv6");
                    return;
                }
                if let Some(addr) = slice(self.data, f.offset.into(), 16) {
                    ipv6(out, leading_zeros, compressed, addr);
                }
            }
            Some(b'S') => self.sockaddr(out, leading_zeros, rest, arg),
            _ => {}
        }
    }

    fn sockaddr(&self, out: &mut Out, leading_zeros: bool, mut rest: &[u8], arg: &Arg) {
        let (mut port, mut compressed) = (false, false);
        if !leading_zeros {
            if rest.first() == Some(&b'p') {
                port = true;
                rest = &rest[1..];
            }
            if rest.first() == Some(&b'c') {
                compressed = true;
                rest = &rest[1..];
            }
        }
        let reverse = matches!(rest.first(), Some(b'h' | b'l'));
        let Some(f) = self.plain_field(out, arg) else {
            return;
        };
        let (offset, len) = (f.offset, f.size);
        let sa = tail(self.data, offset.into());
        let family = read_number(sa, 0, 2);
        let port_number = slice(sa, 2, 2).map_or(0, |p| u16::from_be_bytes([p[0], p[1]]));
        const AF_INET: u64 = 2;
        const AF_INET6: u64 = 10;
        if family == AF_INET {
            if len < 16 {
                out.push(b"INVALIDIPv4");
                return;
            }
            if let Some(addr) = slice(sa, 4, 4) {
                ipv4(out, leading_zeros, reverse, addr);
            }
            if port {
                out.push_str(&format!(":{port_number}"));
            }
        } else if family == AF_INET6 {
            if len < 28 {
                out.push(b"INVALIDIPv6");
                return;
            }
            if port {
                out.push(b"[");
            }
            if let Some(addr) = slice(sa, 8, 16) {
                ipv6(out, leading_zeros, compressed, addr);
            }
            if port {
                out.push_str(&format!("]:{port_number}"));
            }
        }
    }

    fn uuid(&self, out: &mut Out, suffix: &[u8], arg: &Arg) {
        const GUID: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
        let (upper, guid) = match suffix.get(1) {
            Some(b'L') => (true, true),
            Some(b'l') => (false, true),
            Some(b'B') => (true, false),
            _ => (false, false),
        };
        let Some(f) = self.plain_field(out, arg) else {
            return;
        };
        if f.size != 16 {
            out.push(b"INVALIDUUID");
            return;
        }
        let Some(bytes) = slice(self.data, f.offset.into(), 16) else {
            return;
        };
        for i in 0..16 {
            let b = bytes[if guid { GUID[i] } else { i }];
            out.push_str(&if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            });
            if matches!(i, 3 | 5 | 7 | 9) {
                out.push(b"-");
            }
        }
    }

    fn raw_buffer(&self, out: &mut Out, suffix: &[u8], plen: i64, arg: &Arg) {
        let delim: &[u8] = match suffix.get(1) {
            Some(b'C') => b":",
            Some(b'D') => b"-",
            Some(b'N') => b"",
            _ => b" ",
        };
        let Arg::DynArray(field) = arg else {
            out.push_str(&format!("ARG TYPE NOT FIELD BUT {}", arg.type_number()));
            return;
        };
        let Some(f) = self.fields.get(*field) else {
            return;
        };
        let (offset, len) = dynamic_location(f, self.data);
        // libtraceevent compares the length unsigned, so a negative `*`
        // argument means the whole array.
        let count = if plen < 0 || plen > i64::from(len) {
            i64::from(len)
        } else {
            plen
        };
        if count < 1 {
            return;
        }
        let bytes = tail(self.data, offset.into());
        for (i, b) in bytes.iter().take(count as usize).enumerate() {
            if out.full() {
                break;
            }
            if i > 0 {
                out.push(delim);
            }
            out.push_str(&format!("{b:02x}"));
        }
    }
}

fn ipv4(out: &mut Out, leading_zeros: bool, reverse: bool, addr: &[u8]) {
    let mut b = [addr[0], addr[1], addr[2], addr[3]];
    if reverse {
        b.reverse();
    }
    out.push_str(&if leading_zeros {
        format!("{:03}.{:03}.{:03}.{:03}", b[0], b[1], b[2], b[3])
    } else {
        format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
    });
}

fn ipv6(out: &mut Out, no_colons: bool, compressed: bool, addr: &[u8]) {
    if compressed {
        out.push_str(&ipv6_compressed(addr));
        return;
    }
    for j in (0..16).step_by(2) {
        out.push_str(&format!("{:02x}{:02x}", addr[j], addr[j + 1]));
        if !no_colons && j < 14 {
            out.push(b":");
        }
    }
}

/// `%pI6c`: the longest run of two or more zero words becomes `::`, and
/// IPv4-mapped and ISATAP addresses end in dotted IPv4.
fn ipv6_compressed(addr: &[u8]) -> String {
    let words: Vec<u16> = addr
        .chunks_exact(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
        .collect();
    let mapped = words[..5].iter().all(|&w| w == 0) && words[5] == 0xffff;
    let isatap = (words[4] | 0x0200) == 0x0200 && words[5] == 0x5efe;
    let use_v4 = mapped || isatap;
    let range = if use_v4 { 6 } else { 8 };
    let mut longest = 1;
    let mut colon_at = None;
    for i in 0..range {
        let run = words[i..range].iter().take_while(|&&w| w == 0).count();
        if run > longest {
            longest = run;
            colon_at = Some(i);
        }
    }
    let mut s = String::new();
    let mut need_colon = false;
    let mut i = 0;
    while i < range {
        if Some(i) == colon_at {
            if need_colon || i == 0 {
                s.push(':');
            }
            s.push(':');
            need_colon = false;
            i += longest;
            continue;
        }
        if need_colon {
            s.push(':');
        }
        s.push_str(&format!("{:x}", words[i]));
        need_colon = true;
        i += 1;
    }
    if use_v4 {
        if need_colon {
            s.push(':');
        }
        s.push_str(&format!(
            "{}.{}.{}.{}",
            addr[12], addr[13], addr[14], addr[15]
        ));
    }
    s
}

/// `__get_bitmask`: the mask as hex, most significant byte first, with a
/// comma between 32-bit words (libtraceevent's `print_bitmask_to_seq`).
fn bitmask_words(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate().rev() {
        s.push_str(&format!("{b:02x}"));
        if i > 0 && i % 4 == 0 {
            s.push(',');
        }
    }
    s
}

// ---------------------------------------------------------------------------
// The public face
// ---------------------------------------------------------------------------

/// A `__print_flags` or `__print_symbolic` table and the flags' delimiter.
type TableRef<'a> = (&'a [(u64, String)], Option<&'a str>);

/// A parsed `print fmt:` line: the format string and its arguments, ready
/// to format raw events the way `perf script` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintFmt {
    format: String,
    args: Vec<Arg>,
    segments: Vec<Segment>,
}

impl PrintFmt {
    /// Parses the text after `print fmt:` for an event with `fields` (common
    /// fields first) of `system`. Fails where libtraceevent fails, with a
    /// sentence saying why.
    pub fn parse(text: &str, fields: &[Field], system: &str) -> Result<PrintFmt, String> {
        let mut parser = Parser {
            lex: Lexer::new(text.as_bytes()),
            fields,
            depth: 0,
        };
        let token = parser.read();
        if token.kind != Kind::DQuote {
            return Err("the print fmt does not start with a quoted format string".into());
        }
        let mut format = token.text;
        let mut token = parser.read();
        while token.kind == Kind::DQuote {
            format.push_str(&token.text);
            token = parser.read();
        }
        let mut args = Vec::new();
        if token.kind != Kind::End {
            parser.expect(&token, Kind::Delim, ",")?;
            loop {
                let (mut arg, mut token) = parser.process_arg()?;
                if token.kind == Kind::Op {
                    (arg, token) = parser.process_op(arg, token)?;
                    args.push(arg);
                    if token.kind == Kind::End {
                        break;
                    }
                    // libtraceevent reads the next argument right after an
                    // expression, whatever token ended it.
                    continue;
                }
                args.push(arg);
                if !token.is(Kind::Delim, ",") {
                    // Anything after the last argument is ignored.
                    break;
                }
            }
        }
        if system == "ftrace" && args.is_empty() {
            // Old ftrace formats name no arguments: they print the fields.
            args = fields
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.common)
                .map(|(i, f)| Arg::Field {
                    name: f.name.clone(),
                    field: Some(i),
                })
                .collect();
        }
        let segments = build_segments(format.as_bytes(), args.len())?;
        Ok(PrintFmt {
            format,
            args,
            segments,
        })
    }

    /// The format string, quotes removed and escapes as written.
    pub fn format_string(&self) -> &str {
        &self.format
    }

    /// How many arguments follow the format string.
    pub fn arg_count(&self) -> usize {
        self.args.len()
    }

    /// Formats one raw event (starting at `common_type`) of the event whose
    /// `fields` this was parsed with.
    pub fn format(&self, fields: &[Field], raw: &[u8], symbols: &dyn KernelSymbolizer) -> String {
        let eval = Eval {
            fields,
            data: raw,
            symbols,
        };
        let mut out = Out::default();
        for segment in &self.segments {
            if out.full() {
                break;
            }
            match segment {
                Segment::Literal(text) => out.push(text),
                Segment::Conv {
                    kind,
                    spec,
                    arg,
                    len_arg,
                } => {
                    let Some(arg) = self.args.get(*arg) else {
                        continue;
                    };
                    let star = len_arg
                        .and_then(|i| self.args.get(i))
                        .map(|a| i64::from(eval.num(a, 0) as i32));
                    match kind {
                        ConvKind::Number { length } => {
                            let bits = match length {
                                -2 => 8,
                                -1 => 16,
                                0 => 32,
                                _ => 64,
                            };
                            Printf::parse(spec, star).integer(&mut out, eval.num(arg, 0), bits);
                        }
                        ConvKind::Str => {
                            eval.string_arg(&mut out, &Printf::parse(spec, star), arg, 0)
                        }
                        ConvKind::Pointer => eval.pointer(&mut out, spec, star.unwrap_or(1), arg),
                    }
                }
            }
        }
        String::from_utf8_lossy(&out.buf).into_owned()
    }

    /// The flag and symbolic tables as perf's scripting engines announce
    /// them to a script (`define_flag_field`, `define_flag_value`,
    /// `define_symbolic_field`, `define_symbolic_value`), in the order and
    /// with the quirks of perf's `define_event_symbols`: the walk names a
    /// table after the last `REC->` field it passed, every atom it passes
    /// defines flag value 0 of that field with the atom's text, and it stops
    /// at the first dynamic array, bitmask or helper function.
    pub fn symbol_definitions(&self) -> Vec<SymbolDefinition> {
        fn walk(
            arg: &Arg,
            field: &mut Option<String>,
            out: &mut Vec<SymbolDefinition>,
            depth: usize,
        ) -> bool {
            if depth > MAX_DEPTH {
                return false;
            }
            let values = |out: &mut Vec<SymbolDefinition>,
                          field: &Option<String>,
                          table: &[(u64, String)],
                          flags: bool| {
                if let Some(field) = field {
                    for (value, name) in table {
                        out.push(SymbolDefinition::Value {
                            flags,
                            field: field.clone(),
                            value: *value,
                            name: name.clone(),
                        });
                    }
                }
            };
            match arg {
                Arg::Null | Arg::Str(_) => true,
                Arg::Atom(atom) => {
                    if let Some(field) = field {
                        out.push(SymbolDefinition::Value {
                            flags: true,
                            field: field.clone(),
                            value: 0,
                            name: atom.clone(),
                        });
                    }
                    true
                }
                Arg::Field { name, .. } => {
                    *field = Some(name.clone());
                    true
                }
                Arg::Flags {
                    value,
                    delim,
                    table,
                } => {
                    let go_on = walk(value, field, out, depth + 1);
                    if let Some(f) = field {
                        out.push(SymbolDefinition::Field {
                            flags: true,
                            field: f.clone(),
                            delim: Some(delim.clone().unwrap_or_default()),
                        });
                    }
                    values(out, field, table, true);
                    go_on
                }
                Arg::Symbolic { value, table } => {
                    let go_on = walk(value, field, out, depth + 1);
                    if let Some(f) = field {
                        out.push(SymbolDefinition::Field {
                            flags: false,
                            field: f.clone(),
                            delim: None,
                        });
                    }
                    values(out, field, table, false);
                    go_on
                }
                Arg::Hex {
                    field: item, len, ..
                } => walk(item, field, out, depth + 1) && walk(len, field, out, depth + 1),
                Arg::IntArray {
                    field: item,
                    count,
                    el_size,
                } => {
                    walk(item, field, out, depth + 1)
                        && walk(count, field, out, depth + 1)
                        && walk(el_size, field, out, depth + 1)
                }
                Arg::Cast { item, .. } => walk(item, field, out, depth + 1),
                Arg::Op { left, right, .. } => {
                    walk(left, field, out, depth + 1) && walk(right, field, out, depth + 1)
                }
                // perf returns here without walking the arguments after.
                Arg::Bitmask(_) | Arg::DynArray(_) | Arg::DynArrayLen(_) => false,
                #[allow(unreachable_patterns)]
                _ => false,
            }
        }
        let mut out = Vec::new();
        let mut field = None;
        for arg in &self.args {
            if !walk(arg, &mut field, &mut out, 0) {
                break;
            }
        }
        out
    }

    /// The table of the first `__print_flags` whose value is computed from
    /// the field `field` (the last `REC->` field in the value, as perf's
    /// scripting engines name it).
    pub fn flag_table(&self, field: &str) -> Option<&[(u64, String)]> {
        self.find_table(field, true).map(|(table, _)| table)
    }

    /// The delimiter of that `__print_flags` (`None` when it has none).
    pub fn flag_delimiter(&self, field: &str) -> Option<&str> {
        self.find_table(field, true).and_then(|(_, delim)| delim)
    }

    /// The table of the first `__print_symbolic` whose value is computed
    /// from the field `field`.
    pub fn symbolic_table(&self, field: &str) -> Option<&[(u64, String)]> {
        self.find_table(field, false).map(|(table, _)| table)
    }

    fn find_table(&self, field: &str, flags: bool) -> Option<TableRef<'_>> {
        fn last_field(arg: &Arg, depth: usize) -> Option<&str> {
            if depth > MAX_DEPTH {
                return None;
            }
            match arg {
                Arg::Field { name, .. } => Some(name),
                Arg::Cast { item, .. } => last_field(item, depth + 1),
                Arg::Op { left, right, .. } => {
                    last_field(right, depth + 1).or_else(|| last_field(left, depth + 1))
                }
                _ => None,
            }
        }
        fn walk<'a>(arg: &'a Arg, field: &str, flags: bool, depth: usize) -> Option<TableRef<'a>> {
            if depth > MAX_DEPTH {
                return None;
            }
            match arg {
                Arg::Flags {
                    value,
                    delim,
                    table,
                } => {
                    if flags && last_field(value, 0) == Some(field) {
                        return Some((table, delim.as_deref()));
                    }
                    walk(value, field, flags, depth + 1)
                }
                Arg::Symbolic { value, table } => {
                    if !flags && last_field(value, 0) == Some(field) {
                        return Some((table, None));
                    }
                    walk(value, field, flags, depth + 1)
                }
                Arg::Cast { item, .. } => walk(item, field, flags, depth + 1),
                Arg::Op { left, right, .. } => walk(left, field, flags, depth + 1)
                    .or_else(|| walk(right, field, flags, depth + 1)),
                _ => None,
            }
        }
        self.args.iter().find_map(|a| walk(a, field, flags, 0))
    }
}

/// A flag or symbolic table entry as perf announces it to scripts; see
/// [`PrintFmt::symbol_definitions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolDefinition {
    /// `define_flag_field(event, field, delim)` (`flags`), or
    /// `define_symbolic_field(event, field)`.
    Field {
        /// A `__print_flags` table, else a `__print_symbolic` one.
        flags: bool,
        /// The field.
        field: String,
        /// The flags' delimiter.
        delim: Option<String>,
    },
    /// `define_flag_value(event, field, value, name)` (`flags`), or
    /// `define_symbolic_value(...)`.
    Value {
        /// A `__print_flags` table, else a `__print_symbolic` one.
        flags: bool,
        /// The field.
        field: String,
        /// The value.
        value: u64,
        /// Its name.
        name: String,
    },
}

/// What perf prints for an event whose print fmt did not parse:
/// `[FAILED TO PARSE]` and then ` name=value` for each event field, values
/// in libtraceevent's raw style (`print_field_raw`).
pub fn format_unparsed(fields: &[Field], raw: &[u8]) -> String {
    let mut out = Out::default();
    out.push(b"[FAILED TO PARSE]");
    for f in fields.iter().filter(|f| !f.common) {
        if out.full() {
            break;
        }
        out.push_str(&format!(" {}=", f.name));
        raw_field(&mut out, f, raw);
    }
    String::from_utf8_lossy(&out.buf).into_owned()
}

fn raw_field(out: &mut Out, f: &Field, data: &[u8]) {
    if f.lte_is_array() {
        let (offset, len) = if matches!(f.kind, FieldKind::DataLoc { .. }) {
            dynamic_location(f, data)
        } else {
            (f.offset, f.size)
        };
        let bytes = tail(data, offset.into());
        let bytes = &bytes[..bytes.len().min(len as usize)];
        let printable = c_str(bytes).iter().all(|&b| is_print(b) || is_space(b));
        if f.lte_is_string() && printable {
            out.push(c_str(tail(data, offset.into())));
        } else {
            out.push(b"ARRAY[");
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            out.push_str(&hex.join(", "));
            out.push(b"]");
        }
        return;
    }
    let value = read_number(data, f.offset.into(), f.size.into());
    let text = if f.type_name.contains('*') {
        format!("0x{value:x}")
    } else if f.signed {
        match f.size {
            4 if f.type_name.contains("long") => format!("0x{:x}", value as u32),
            4 => (value as i32).to_string(),
            2 => format!("{:2}", value as i16),
            1 => (value as i8).to_string(),
            _ => (value as i64).to_string(),
        }
    } else if f.type_name.contains("long") {
        format!("0x{value:x}")
    } else {
        value.to_string()
    };
    out.push_str(&text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracefs::format::NoSymbols;

    fn field(name: &str, type_name: &str, offset: u32, size: u32, signed: bool) -> Field {
        Field {
            name: name.into(),
            type_name: type_name.into(),
            offset,
            size,
            signed,
            common: false,
            kind: FieldKind::Scalar,
            declaration: format!("{type_name} {name}"),
        }
    }

    fn eval(fmt: &str, fields: &[Field], raw: &[u8]) -> String {
        PrintFmt::parse(fmt, fields, "test")
            .unwrap_or_else(|e| panic!("{fmt}: {e}"))
            .format(fields, raw, &NoSymbols)
    }

    #[test]
    fn tokens_follow_libtraceevent() {
        let mut lex = Lexer::new(b"REC->a >>= b && !c \"x\" \"y\" 'q' ->");
        let mut seen = Vec::new();
        loop {
            let t = lex.next_token();
            if t.kind == Kind::End {
                break;
            }
            seen.push((t.kind, t.text));
        }
        let texts: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            ["REC", "->", "a", ">>=", "b", "&&", "!", "c", "xy", "q", "->"]
        );
    }

    #[test]
    fn constants_and_operators() {
        let fields = [];
        assert_eq!(eval(r#""%d", 1 + 2"#, &fields, &[]), "3");
        // Equal priorities group to the right in libtraceevent.
        assert_eq!(eval(r#""%d", 10 - 3 - 2"#, &fields, &[]), "9");
        assert_eq!(eval(r#""%d", 2 * 3 + 4"#, &fields, &[]), "10");
        assert_eq!(eval(r#""%d", 4 + 2 * 3"#, &fields, &[]), "10");
        assert_eq!(eval(r#""%lx", (1UL << 12) - 1"#, &fields, &[]), "fff");
        assert_eq!(eval(r#""%d", 7 > 3 ? 1 : 2"#, &fields, &[]), "1");
        assert_eq!(eval(r#""%s", 0 ? "yes" : "no""#, &fields, &[]), "no");
        assert_eq!(eval(r#""%c%c", 'h', 105"#, &fields, &[]), "hi");
    }

    #[test]
    fn fields_read_unsigned_and_cast_by_conversion() {
        let fields = [
            field("a", "int", 0, 4, true),
            field("b", "long", 4, 8, true),
            field("c", "u16", 12, 2, false),
        ];
        let mut raw = Vec::new();
        raw.extend_from_slice(&(-5i32).to_le_bytes());
        raw.extend_from_slice(&(-7i64).to_le_bytes());
        raw.extend_from_slice(&0xfffeu16.to_le_bytes());
        assert_eq!(
            eval(r#""%d %ld %u", REC->a, REC->b, REC->c"#, &fields, &raw),
            "-5 -7 65534"
        );
        // An int read into 64 bits is not sign-extended: %ld shows it unsigned.
        assert_eq!(
            eval(r#""%ld %x", REC->a, REC->a"#, &fields, &raw),
            "4294967291 fffffffb"
        );
        // Comparisons are unsigned, so a negative int is never below zero.
        assert_eq!(eval(r#""%d", REC->a < 0"#, &fields, &raw), "0");
        assert_eq!(
            eval(r#""%hd %hhx", REC->c, REC->c"#, &fields, &raw),
            "-2 fe"
        );
        assert_eq!(eval(r#""%d", (u8)REC->c"#, &fields, &raw), "254");
    }

    #[test]
    fn printf_flags_width_precision() {
        let fields = [field("v", "unsigned long", 0, 8, false)];
        let raw = 0xabcu64.to_le_bytes();
        assert_eq!(
            eval(
                r#""[%08lx][%-6lu][%#lx][%6lx][%.5lu]", REC->v, REC->v, REC->v, REC->v, REC->v"#,
                &fields,
                &raw
            ),
            "[00000abc][2748  ][0xabc][   abc][02748]"
        );
        assert_eq!(
            eval(r#""[%-8s][%5s][%.2s]", "ab", "ab", "abc""#, &fields, &raw),
            "[ab      ][   ab][ab]"
        );
        assert_eq!(
            eval(r#""[%*s][%.*s]", 4, "a", 2, "abc""#, &fields, &raw),
            "[   a][ab]"
        );
        assert_eq!(eval(r#""%d%%", 50"#, &fields, &raw), "50%");
    }

    #[test]
    fn pointers_and_symbols() {
        struct Syms;
        impl KernelSymbolizer for Syms {
            fn symbolize(&self, addr: u64) -> Option<(&str, u64)> {
                (addr >= 0x1000).then_some(("do_work", addr - 0x1000))
            }
        }
        let fields = [
            field("p", "void *", 0, 8, false),
            field("q", "void *", 8, 8, false),
        ];
        let mut raw = 0x1010u64.to_le_bytes().to_vec();
        raw.extend_from_slice(&0u64.to_le_bytes());
        let p = PrintFmt::parse(
            r#""%pS %ps %p %p %pK %pB", REC->p, REC->p, REC->p, REC->q, REC->p, REC->p"#,
            &fields,
            "t",
        )
        .unwrap();
        assert_eq!(
            p.format(&fields, &raw, &Syms),
            "do_work+0x10 do_work 0x1010 (nil) 0x1010K 0x1010B"
        );
        assert_eq!(
            p.format(&fields, &raw, &NoSymbols),
            "0x1010 0x1010 0x1010 (nil) 0x1010K 0x1010B"
        );
    }

    #[test]
    fn flags_and_symbols() {
        let fields = [field("state", "long", 0, 8, true)];
        let fmt = r#""%s %s", __print_flags(REC->state, "|", { 1, "S" }, { 2, "D" }, { 0x10, "X" }), __print_symbolic(REC->state, { 1, "one" }, { 3, "three" })"#;
        assert_eq!(eval(fmt, &fields, &3u64.to_le_bytes()), "S|D three");
        assert_eq!(eval(fmt, &fields, &0x23u64.to_le_bytes()), "S|D|0x20 0x23");
        let p = PrintFmt::parse(fmt, &fields, "t").unwrap();
        assert_eq!(p.flag_delimiter("state"), Some("|"));
        assert_eq!(p.flag_table("state").map(<[_]>::len), Some(3));
        assert_eq!(
            p.symbolic_table("state").unwrap()[1],
            (3, "three".to_string())
        );
        // Unknown enum names evaluate to -1 and never match.
        let fmt = r#""%s", __print_symbolic(REC->state, { HRTIMER_MODE_ABS, "ABS" })"#;
        assert_eq!(eval(fmt, &fields, &0u64.to_le_bytes()), "0x0");
    }

    #[test]
    fn sched_switch_prev_state() {
        let fields = [field("prev_state", "long", 0, 8, true)];
        let fmt = r#""%s%s", (REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1), "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000004, "T" }, { 0x00000008, "t" }, { 0x00000010, "X" }, { 0x00000020, "Z" }, { 0x00000040, "P" }, { 0x00000080, "I" }) : "R", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? "+" : """#;
        assert_eq!(eval(fmt, &fields, &0u64.to_le_bytes()), "R");
        assert_eq!(eval(fmt, &fields, &1u64.to_le_bytes()), "S");
        assert_eq!(eval(fmt, &fields, &0x402u64.to_le_bytes()), "D");
        assert_eq!(eval(fmt, &fields, &0x100u64.to_le_bytes()), "R+");
        let p = PrintFmt::parse(fmt, &fields, "sched").unwrap();
        assert_eq!(p.flag_table("prev_state").map(<[_]>::len), Some(8));
    }

    #[test]
    fn arrays_strings_and_dynamic_data() {
        let mut args = field("args", "unsigned long", 0, 16, false);
        args.kind = FieldKind::Array { len: 2 };
        args.declaration = "unsigned long args[2]".into();
        let mut name = field("name", "char", 16, 4, false);
        name.kind = FieldKind::DataLoc { relative: false };
        name.declaration = "__data_loc char[] name".into();
        let mut rel = field("rel", "u8", 20, 4, false);
        rel.kind = FieldKind::DataLoc { relative: true };
        rel.declaration = "__rel_loc u8[] rel".into();
        let fields = [args, name, rel];
        let mut raw = Vec::new();
        raw.extend_from_slice(&7u64.to_le_bytes());
        raw.extend_from_slice(&9u64.to_le_bytes());
        raw.extend_from_slice(&((4u32 << 16) | 24).to_le_bytes()); // name at 24, 4 bytes
        raw.extend_from_slice(&((3u32 << 16) | 4).to_le_bytes()); // rel at 24+4=28, 3 bytes
        raw.extend_from_slice(b"abc\0");
        raw.extend_from_slice(&[1, 2, 0xff]);
        assert_eq!(
            eval(
                r#""%lu %lu [%s] %d", REC->args[0], REC->args[1], __get_str(name), __get_dynamic_array_len(rel)"#,
                &fields,
                &raw
            ),
            "7 9 [abc] 3"
        );
        assert_eq!(
            eval(
                r#""%s|%s|%s", __print_hex(__get_dynamic_array(rel), 3), __print_hex_str(__get_dynamic_array(rel), 3), __print_array(__get_dynamic_array(rel), 3, 1)"#,
                &fields,
                &raw
            ),
            "01 02 ff|0102ff|{0x1,0x2,0xff}"
        );
    }

    #[test]
    fn bitmasks() {
        assert_eq!(
            bitmask_words(&[0x0f, 0, 0, 0, 1, 0, 0, 0]),
            "00000001,0000000f"
        );
        assert_eq!(bitmask_words(&[1, 2, 3]), "030201");
    }

    #[test]
    fn network_addresses() {
        let mut out = Out::default();
        ipv6(
            &mut out,
            false,
            true,
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        );
        assert_eq!(out.buf, b"2001:db8::1");
        assert_eq!(
            ipv6_compressed(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]),
            "::ffff:10.0.0.1"
        );
        let mut f = field("mac", "u8", 0, 6, false);
        f.kind = FieldKind::Array { len: 6 };
        f.declaration = "u8 mac[6]".into();
        let mut ip = field("ip", "u8", 6, 4, false);
        ip.kind = FieldKind::Array { len: 4 };
        ip.declaration = "u8 ip[4]".into();
        let fields = [f, ip];
        let raw = [0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc, 192, 168, 0, 1];
        assert_eq!(
            eval(
                r#""%pM %pI4 %pi4", REC->mac, REC->ip, REC->ip"#,
                &fields,
                &raw
            ),
            "00:1b:21:aa:bb:cc 192.168.0.1 192.168.000.001"
        );
    }

    #[test]
    fn what_libtraceevent_cannot_parse_fails() {
        let fields = [field("a", "int", 0, 4, true)];
        for fmt in [
            r#""%u", jiffies_to_msecs(REC->a)"#,
            r#""%s", ({ const char *p = 0; p; })"#,
            r#""%d %d", REC->a"#,
            r#""%*.*d", 1, 2, 3"#,
            r#"no quotes"#,
            r#""%d", REC->a, "#,
            r#""%hhhd", 1"#,
            // Not in perf 6.1's libtraceevent.
            r#""%d", sizeof(int)"#,
            r#""%s", __get_cpumask(a)"#,
        ] {
            assert!(PrintFmt::parse(fmt, &fields, "t").is_err(), "{fmt} parsed");
        }
        let raw = (-3i32).to_le_bytes();
        assert_eq!(format_unparsed(&fields, &raw), "[FAILED TO PARSE] a=-3");
    }

    #[test]
    fn odd_conversions_print_like_libtraceevent() {
        let fields = [];
        // An unknown conversion prints as >c< and the rest is literal text.
        assert_eq!(eval(r#""a% d", 1"#, &fields, &[]), "a> <d");
        assert_eq!(eval(r#""%jd", 1"#, &fields, &[]), ">j<d");
        // Extra arguments are ignored.
        assert_eq!(eval(r#""x", 1, 2"#, &fields, &[]), "x");
        // Escapes in the format string.
        assert_eq!(eval(r#""a\tb\\c\"d""#, &fields, &[]), "a\tb\\c\"d");
    }

    #[test]
    fn libtraceevent_parsing_quirks() {
        let fields = [field("a", "int", 0, 4, true)];
        let raw = 5i32.to_le_bytes();
        // A tab inside the format string is part of it (maple_tree's formats).
        assert_eq!(eval("\"x\ty=%d\", REC->a", &fields, &raw), "x\ty=5");
        // `(REC)->field` is a field.
        assert_eq!(eval(r#""%d", (REC)->a"#, &fields, &raw), "5");
        // A cast followed by an operator is not a cast: `(int)-1` is the
        // atom `int` minus one, and `int` reads as 0.
        assert_eq!(eval(r#""%d", (int)-1"#, &fields, &raw), "-1");
        // A parenthesised looser operator on the right is rotated above.
        assert_eq!(eval(r#""%d", 2 * (3 + 4)"#, &fields, &raw), "10");
        assert_eq!(eval(r#""%d", 1 + (0 ? 5 : 7)"#, &fields, &raw), "5");
        // A ternary's false branch is one operand; what follows applies to
        // the whole ternary.
        assert_eq!(eval(r#""%d", 0 ? 1 : 2 + 10"#, &fields, &raw), "12");
        // Index expressions take one operand only.
        assert!(PrintFmt::parse(r#""%d", REC->a[1 + 1]"#, &fields, "t").is_err());
        // An unterminated string is an error, not an endless read.
        assert!(PrintFmt::parse("\"abc", &fields, "t").is_err());
    }

    #[test]
    fn c_integers() {
        assert_eq!(strtoull("0x1f"), 31);
        assert_eq!(strtoull("010"), 8);
        assert_eq!(strtoull("1UL"), 1);
        assert_eq!(strtoull("-1"), u64::MAX);
        assert_eq!(strtoull("99999999999999999999999"), u64::MAX);
        assert_eq!(strtoll("0xffffffffffffffff"), i64::MAX);
        assert_eq!(strtoll("-5"), -5);
        assert_eq!(strtoull("abc"), 0);
        assert_eq!(eval_flag("-1"), -1);
        assert_eq!(eval_flag("TIMER_SOFTIRQ"), 1);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("\"%d\", {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(PrintFmt::parse(&deep, &[], "t").is_err());
        let chain = format!("\"%d\", 1{}", " | 1".repeat(5000));
        assert!(PrintFmt::parse(&chain, &[], "t").is_err());
        let unary = format!("\"%d\", {}1", "-".repeat(5000));
        assert!(PrintFmt::parse(&unary, &[], "t").is_err());
    }
}
