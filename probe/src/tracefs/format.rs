//! Tracepoint `format` files (`events/SYSTEM/EVENT/format` in tracefs) and
//! the raw events they describe.
//!
//! A format file names the event, gives its id (the `config` of a
//! `PERF_TYPE_TRACEPOINT` event and the `common_type` of each record), lists
//! the fields of the raw payload (the bytes `PERF_SAMPLE_RAW` carries, or the
//! body of an ftrace ring-buffer event, both starting at `common_type`), and
//! ends with the `print fmt:` line that [`super::print_fmt`] evaluates:
//!
//! ```text
//! name: sched_wakeup
//! ID: 375
//! format:
//!     field:unsigned short common_type;    offset:0;    size:2;    signed:0;
//!     ...
//!
//!     field:char comm[16];    offset:8;    size:16;    signed:0;
//!     field:pid_t pid;    offset:24;    size:4;    signed:1;
//!
//! print fmt: "comm=%s pid=%d", REC->comm, REC->pid
//! ```
//!
//! The common fields come first, then a blank line, then the event's own.
//! `__data_loc` fields are a u32 whose low 16 bits are the offset of the data
//! in the record and high 16 bits its length; `__rel_loc` fields are the
//! same, but the offset counts from the end of the field itself.
//!
//! Parsing and decoding are pure and total: any text and any bytes give a
//! value or an error, never a panic, and nothing is allocated beyond what
//! the input's own size bounds.

use super::print_fmt::{self, PrintFmt};
use std::borrow::Cow;
use std::fmt;

/// Resolves kernel addresses for `%pS`-style conversions, as perf resolves
/// them through its kernel map.
pub trait KernelSymbolizer {
    /// The symbol containing `addr` and the offset of `addr` into it.
    fn symbolize(&self, addr: u64) -> Option<(&str, u64)>;

    /// The kernel string at `addr`, for a pointer-sized field printed with
    /// `%s` (trace_printk formats and tracepoint strings, which perf reads
    /// from tracefs's `printk_formats`). `None` prints the address in hex.
    fn printk_string(&self, addr: u64) -> Option<&str> {
        let _ = addr;
        None
    }
}

/// A [`KernelSymbolizer`] that knows no symbols: addresses print in hex.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoSymbols;

impl KernelSymbolizer for NoSymbols {
    fn symbolize(&self, _addr: u64) -> Option<(&str, u64)> {
        None
    }
}

/// A parsed tracepoint format file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracepointFormat {
    /// The subsystem (the directory above the event's), e.g. `sched`.
    pub system: String,
    /// The event's name, e.g. `sched_switch`.
    pub name: String,
    /// The event's id: `common_type` in its records, `config` in perf.
    pub id: u32,
    /// The common fields first, then the event's own, in file order.
    pub fields: Vec<Field>,
    /// The text after `print fmt:`, as written.
    pub print_fmt_text: String,
    /// The parsed print fmt, or why libtraceevent (and so this parser)
    /// cannot parse it; events then print as `[FAILED TO PARSE]`.
    pub print: Result<PrintFmt, String>,
}

/// One field of a tracepoint's raw record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name, e.g. `prev_comm`.
    pub name: String,
    /// The C type with array brackets and `__data_loc` removed and spacing
    /// normalised: `char`, `unsigned long`, `pid_t`, `const char *`.
    pub type_name: String,
    /// Offset of the field in the record.
    pub offset: u32,
    /// Size of the field in bytes (for a `__data_loc` field, of the
    /// descriptor; 0 for a flexible array that runs to the record's end).
    pub size: u32,
    /// Whether the kernel marks the type signed (`signed:1`).
    pub signed: bool,
    /// Whether it is one of the `common_*` fields every event starts with.
    pub common: bool,
    /// Scalar, fixed array or dynamic data.
    pub kind: FieldKind,
    /// The declaration as the file writes it, e.g. `__data_loc char[] name`.
    pub declaration: String,
}

/// How a field holds its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A single value of `size` bytes.
    Scalar,
    /// A fixed array such as `char comm[16]`: `len` elements of
    /// `size / len` bytes. `len` is 0 when the file gives no usable length
    /// (`buf[]`) and the element size is unknown.
    Array {
        /// Number of elements.
        len: u32,
    },
    /// Dynamic data elsewhere in the record, located by a descriptor.
    DataLoc {
        /// `__rel_loc`: the offset counts from the end of this field,
        /// rather than from the start of the record (`__data_loc`).
        relative: bool,
    },
}

/// A decoded field value, borrowing from the record where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// A signed integer, sign-extended from the field's size.
    Signed(i64),
    /// An unsigned integer (pointers included).
    Unsigned(u64),
    /// A string (a char array or char `__data_loc`), up to its NUL.
    Str(Cow<'a, str>),
    /// Bytes that are neither a printable string nor an array of integers.
    Bytes(&'a [u8]),
    /// An array of signed integers.
    Signeds(Vec<i64>),
    /// An array of unsigned integers.
    Unsigneds(Vec<u64>),
}

impl fmt::Display for Value<'_> {
    /// Numbers in decimal, strings as they are, bytes as libtraceevent's
    /// `ARRAY[0a, 1b]`, integer arrays as `[1, 2, 3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str("]")
        }
        match self {
            Value::Signed(v) => write!(f, "{v}"),
            Value::Unsigned(v) => write!(f, "{v}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(bytes) => {
                f.write_str("ARRAY[")?;
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                f.write_str("]")
            }
            Value::Signeds(values) => list(f, values),
            Value::Unsigneds(values) => list(f, values),
        }
    }
}

/// Why a format file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A line every format file has is missing.
    #[error("the format has no `{0}` line")]
    Missing(&'static str),
    /// A line is not what a format file has there.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming what was expected.
        message: String,
    },
}

/// Why a field could not be read from a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The record ends before the field does.
    #[error("field `{field}` lies at bytes {start}..{end}, past the end of the {len}-byte record")]
    Truncated {
        /// The field's name.
        field: String,
        /// First byte of the field.
        start: u64,
        /// One past its last byte.
        end: u64,
        /// The record's length.
        len: usize,
    },
    /// A `__data_loc`/`__rel_loc` descriptor points outside the record.
    #[error(
        "field `{field}` locates its data at bytes {start}..{end}, outside the {len}-byte record"
    )]
    DataOutside {
        /// The field's name.
        field: String,
        /// First byte the descriptor names.
        start: u64,
        /// One past its last byte.
        end: u64,
        /// The record's length.
        len: usize,
    },
    /// A data-location descriptor of a size the kernel does not use.
    #[error("field `{field}` is a {size}-byte data location; only 2- and 4-byte ones exist")]
    BadLocationSize {
        /// The field's name.
        field: String,
        /// Its size.
        size: u32,
    },
}

impl TracepointFormat {
    /// Parses the text of a format file of the subsystem `system` (the
    /// file does not name it). The print fmt's own parse result is in
    /// [`TracepointFormat::print`]; only a malformed header or field list
    /// is an error.
    pub fn parse(system: &str, text: &str) -> Result<Self, FormatError> {
        let mut name = None;
        let mut id = None;
        let mut in_format = false;
        let mut fields = Vec::new();
        // 0 while reading the common fields; a blank line ends each list.
        let mut list = 0;
        let mut last_blank = false;
        let mut print_fmt_text = None;
        let mut pos = 0;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            let line_no = index + 1;
            let start = pos;
            pos += line.len();
            let trimmed = line.trim();
            if trimmed.starts_with("print fmt:") {
                let offset = start + (line.len() - line.trim_start().len()) + "print fmt:".len();
                print_fmt_text = Some(text[offset..].trim().to_string());
                break;
            }
            if !in_format {
                if trimmed.is_empty() {
                    continue;
                }
                if let Some(value) = trimmed.strip_prefix("name:") {
                    let value = value.trim();
                    if value.is_empty() {
                        return Err(syntax(line_no, "`name:` gives no name"));
                    }
                    name = Some(value.to_string());
                } else if let Some(value) = trimmed.strip_prefix("ID:") {
                    let value = value.trim();
                    let parsed = parse_number(value).ok_or_else(|| {
                        syntax(line_no, format!("`ID:` is not a number: `{value}`"))
                    })?;
                    id = Some(parsed);
                } else if trimmed == "format:" {
                    in_format = true;
                } else {
                    return Err(syntax(
                        line_no,
                        format!(
                            "expected `name:`, `ID:` or `format:`, found `{}`",
                            clip(trimmed)
                        ),
                    ));
                }
                continue;
            }
            if trimmed.is_empty() {
                if !last_blank {
                    list += 1;
                }
                last_blank = true;
                continue;
            }
            last_blank = false;
            if trimmed.starts_with("field") {
                fields.push(parse_field(trimmed, line_no, list == 0)?);
            } else {
                return Err(syntax(
                    line_no,
                    format!(
                        "expected a `field:` line or `print fmt:`, found `{}`",
                        clip(trimmed)
                    ),
                ));
            }
        }
        let name = name.ok_or(FormatError::Missing("name:"))?;
        let id = id.ok_or(FormatError::Missing("ID:"))?;
        if !in_format {
            return Err(FormatError::Missing("format:"));
        }
        let (print_fmt_text, print) = match print_fmt_text {
            Some(text) => {
                let print = PrintFmt::parse(&text, &fields, system);
                (text, print)
            }
            None => (
                String::new(),
                Err("the format has no `print fmt:` line".to_string()),
            ),
        };
        Ok(TracepointFormat {
            system: system.to_string(),
            name,
            id,
            fields,
            print_fmt_text,
            print,
        })
    }

    /// The field called `name`, common fields first (as libtraceevent looks
    /// fields up).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The event's own fields, without the common ones.
    pub fn event_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.common)
    }

    /// Decodes `field` from `raw`, a record of this event starting at
    /// `common_type`.
    pub fn value<'a>(&self, field: &Field, raw: &'a [u8]) -> Result<Value<'a>, FieldError> {
        field.value(raw)
    }

    /// The event as `perf script` prints its trace part: the print fmt
    /// evaluated on `raw`, or `[FAILED TO PARSE]` and the fields when the
    /// print fmt could not be parsed.
    pub fn format_event(&self, raw: &[u8], symbols: &dyn KernelSymbolizer) -> String {
        match &self.print {
            Ok(print) => print.format(&self.fields, raw, symbols),
            Err(_) => print_fmt::format_unparsed(&self.fields, raw),
        }
    }

    /// The `{ value, "name" }` table of the `__print_flags` whose value is
    /// computed from `field` (the last `REC->` field in it, as perf's
    /// scripting engines assign it). Entries the kernel left as unknown
    /// names have the value `u64::MAX` (libtraceevent's -1).
    pub fn flag_table(&self, field: &str) -> Option<&[(u64, String)]> {
        self.print.as_ref().ok()?.flag_table(field)
    }

    /// The delimiter that `__print_flags` puts between names, e.g. `|`.
    pub fn flag_delimiter(&self, field: &str) -> Option<&str> {
        self.print.as_ref().ok()?.flag_delimiter(field)
    }

    /// The `{ value, "name" }` table of the `__print_symbolic` whose value
    /// is computed from `field`.
    pub fn symbolic_table(&self, field: &str) -> Option<&[(u64, String)]> {
        self.print.as_ref().ok()?.symbolic_table(field)
    }

    /// The flag and symbolic tables of the print format, as perf announces
    /// them to scripts (empty when the print format did not parse).
    pub fn symbol_definitions(&self) -> Vec<super::print_fmt::SymbolDefinition> {
        self.print
            .as_ref()
            .map(|p| p.symbol_definitions())
            .unwrap_or_default()
    }
}

impl Field {
    /// Whether the field holds text: a `char`, `u8` or `s8` array, fixed
    /// or dynamic (libtraceevent's rule).
    pub fn is_string(&self) -> bool {
        self.lte_is_string()
    }

    /// The size of one element: `size / len` for fixed arrays, the C type's
    /// size for dynamic arrays (0 when unknown), `size` for scalars.
    pub fn element_size(&self) -> u32 {
        match self.kind {
            FieldKind::Scalar => self.size,
            FieldKind::Array { len } if len > 0 => self.size / len,
            FieldKind::Array { .. } | FieldKind::DataLoc { .. } => natural_size(&self.type_name),
        }
    }

    /// Decodes the field from `raw`, a record starting at `common_type`.
    pub fn value<'a>(&self, raw: &'a [u8]) -> Result<Value<'a>, FieldError> {
        let start = u64::from(self.offset);
        let end = start + u64::from(self.size);
        let bytes = slice(raw, start, end).ok_or_else(|| FieldError::Truncated {
            field: self.name.clone(),
            start,
            end,
            len: raw.len(),
        })?;
        match self.kind {
            FieldKind::Scalar => Ok(match number(bytes, self.signed) {
                Some(value) => value,
                None => Value::Bytes(bytes),
            }),
            FieldKind::Array { .. } => {
                // A zero-sized array is a flexible one: the rest of the record.
                let bytes = if self.size == 0 {
                    raw.get(self.offset as usize..).unwrap_or(&[])
                } else {
                    bytes
                };
                Ok(self.array(bytes))
            }
            FieldKind::DataLoc { relative } => {
                let (offset, len) = match self.size {
                    4 => {
                        let v = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                        (u64::from(v & 0xffff), u64::from(v >> 16))
                    }
                    // Old kernels stored only an offset; the data runs to the
                    // end of the record.
                    2 => {
                        let o = u64::from(u16::from_le_bytes([bytes[0], bytes[1]]));
                        (o, (raw.len() as u64).saturating_sub(o))
                    }
                    size => {
                        return Err(FieldError::BadLocationSize {
                            field: self.name.clone(),
                            size,
                        })
                    }
                };
                let start = if relative { offset + end } else { offset };
                let data =
                    slice(raw, start, start + len).ok_or_else(|| FieldError::DataOutside {
                        field: self.name.clone(),
                        start,
                        end: start + len,
                        len: raw.len(),
                    })?;
                Ok(self.array(data))
            }
        }
    }

    fn array<'a>(&self, bytes: &'a [u8]) -> Value<'a> {
        if self.is_string() {
            let text = c_str(bytes);
            if text
                .iter()
                .all(|&b| (0x20..0x7f).contains(&b) || b.is_ascii_whitespace())
            {
                return Value::Str(String::from_utf8_lossy(text));
            }
            return Value::Bytes(bytes);
        }
        let element = self.element_size() as usize;
        if !matches!(element, 1 | 2 | 4 | 8) || bytes.len() % element != 0 {
            return Value::Bytes(bytes);
        }
        let elements = bytes.chunks_exact(element);
        if self.signed {
            Value::Signeds(
                elements
                    .map(|e| match number(e, true) {
                        Some(Value::Signed(v)) => v,
                        _ => 0,
                    })
                    .collect(),
            )
        } else {
            Value::Unsigneds(
                elements
                    .map(|e| match number(e, false) {
                        Some(Value::Unsigned(v)) => v,
                        _ => 0,
                    })
                    .collect(),
            )
        }
    }

    /// libtraceevent's "array" flag: the declaration has brackets, or it is
    /// an old two-byte `__data_loc` string.
    pub(crate) fn lte_is_array(&self) -> bool {
        self.declaration.contains('[') || self.is_short_data_loc()
    }

    /// libtraceevent's "string" flag.
    pub(crate) fn lte_is_string(&self) -> bool {
        let t = &self.type_name;
        (self.declaration.contains('[')
            && (t.contains("char") || t.contains("u8") || t.contains("s8")))
            || self.is_short_data_loc()
    }

    fn is_short_data_loc(&self) -> bool {
        matches!(self.kind, FieldKind::DataLoc { .. }) && self.size == 2
    }

    /// The element size libtraceevent uses for `REC->array[i]` and
    /// `__get_dynamic_array(f)[i]` (its `elementsize`), 0 for unknown.
    pub(crate) fn lte_element_size(&self) -> u32 {
        let dynamic = matches!(self.kind, FieldKind::DataLoc { .. });
        if !self.lte_is_array() && !dynamic {
            return self.size;
        }
        let declared = declared_array_len(&self.declaration);
        if let Some(size) = self.size.checked_div(declared) {
            size
        } else if dynamic {
            // libtraceevent sizes only the kernel's fixed-width names here.
            match self.type_name.rsplit(' ').next().unwrap_or("") {
                "u8" | "s8" | "char" => 1,
                "u16" | "s16" => 2,
                "u32" | "s32" => 4,
                "u64" | "s64" => 8,
                _ => 0,
            }
        } else if self.lte_is_string() {
            1
        } else if self.type_name.contains("long") {
            8
        } else {
            0
        }
    }
}

fn syntax(line: usize, message: impl Into<String>) -> FormatError {
    FormatError::Syntax {
        line,
        message: message.into(),
    }
}

/// At most 80 characters of a line, for error messages.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A non-negative number as the kernel writes them: decimal, or hex with
/// `0x`.
fn parse_number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn slice(raw: &[u8], start: u64, end: u64) -> Option<&[u8]> {
    raw.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
}

fn c_str(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// A little-endian integer of 1, 2, 4 or 8 bytes.
fn number(bytes: &[u8], signed: bool) -> Option<Value<'static>> {
    let mut buf = [0u8; 8];
    if !matches!(bytes.len(), 1 | 2 | 4 | 8) {
        return None;
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    let value = u64::from_le_bytes(buf);
    Some(if signed {
        let shift = 64 - 8 * bytes.len() as u32;
        Value::Signed(((value << shift) as i64) >> shift)
    } else {
        Value::Unsigned(value)
    })
}

/// The number in a declaration's last brackets, libtraceevent's
/// `arraylen` (the last token inside them; 0 for `[]` or a macro name).
fn declared_array_len(declaration: &str) -> u32 {
    let Some(open) = declaration.rfind('[') else {
        return 0;
    };
    let inner = &declaration[open + 1..];
    let inner = &inner[..inner.find(']').unwrap_or(inner.len())];
    let token = inner
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .rfind(|t| !t.is_empty())
        .unwrap_or("");
    let digits: String = token.chars().take_while(char::is_ascii_digit).collect();
    if token.starts_with("0x") || token.starts_with("0X") {
        let hex: String = token[2..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        return u32::from_str_radix(&hex, 16).unwrap_or(0);
    }
    digits.parse().unwrap_or(0)
}

/// The size of common C and kernel types, for telling an array's length
/// when the file writes it as a macro. 0 when unknown.
fn natural_size(type_name: &str) -> u32 {
    if type_name.contains('*') {
        return 8;
    }
    let mut t = type_name;
    for prefix in ["const ", "volatile ", "signed ", "unsigned "] {
        t = t.strip_prefix(prefix).unwrap_or(t);
    }
    match t {
        "char" | "u8" | "s8" | "__u8" | "__s8" | "bool" | "_Bool" => 1,
        "short" | "short int" | "u16" | "s16" | "__u16" | "__s16" | "__le16" | "__be16" => 2,
        "unsigned" | "int" | "u32" | "s32" | "__u32" | "__s32" | "__le32" | "__be32" | "pid_t"
        | "gfp_t" | "uid_t" | "gid_t" | "dev_t" => 4,
        "long" | "long int" | "long long" | "long long int" | "u64" | "s64" | "__u64" | "__s64"
        | "__le64" | "__be64" | "size_t" | "ssize_t" | "loff_t" | "sector_t" => 8,
        _ => 0,
    }
}

/// Parses one `field:...; offset:N; size:N; signed:N;` line.
fn parse_field(line: &str, line_no: usize, common: bool) -> Result<Field, FormatError> {
    let rest = line["field".len()..].trim_start();
    // Old ftrace formats write `field special:`.
    let rest = rest.strip_prefix("special").map_or(rest, str::trim_start);
    let Some(rest) = rest.strip_prefix(':') else {
        return Err(syntax(line_no, "expected `field:`"));
    };
    let mut parts = rest.split(';');
    let declaration = parts.next().unwrap_or("").trim();
    if declaration.is_empty() {
        return Err(syntax(line_no, "a field has no declaration"));
    }
    let (mut offset, mut size, mut signed) = (None, None, false);
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once(':') else {
            return Err(syntax(
                line_no,
                format!(
                    "field `{}`: expected `key:value`, found `{}`",
                    clip(declaration),
                    clip(part)
                ),
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let number = || {
            parse_number(value).ok_or_else(|| {
                syntax(
                    line_no,
                    format!(
                        "field `{}`: `{key}:` is not a number: `{}`",
                        clip(declaration),
                        clip(value)
                    ),
                )
            })
        };
        match key {
            "offset" => offset = Some(number()?),
            "size" => size = Some(number()?),
            "signed" => signed = number()? != 0,
            // Fields the kernel may add one day do not make the file unreadable.
            _ => {}
        }
    }
    let missing = |what: &str| {
        syntax(
            line_no,
            format!("field `{}` has no `{what}:`", clip(declaration)),
        )
    };
    let offset = offset.ok_or_else(|| missing("offset"))?;
    let size = size.ok_or_else(|| missing("size"))?;
    if offset.checked_add(size).is_none() {
        return Err(syntax(
            line_no,
            format!("field `{}` ends past 4 GiB", clip(declaration)),
        ));
    }
    let (name, type_name, kind) = parse_declaration(declaration, size)
        .map_err(|message| syntax(line_no, format!("field `{}`: {message}", clip(declaration))))?;
    Ok(Field {
        name,
        type_name,
        offset,
        size,
        signed,
        common,
        kind,
        declaration: declaration.to_string(),
    })
}

/// Splits a declaration such as `unsigned long args[6]`, `const char * fmt`
/// or `__data_loc char[] name` into name, type and kind.
fn parse_declaration(declaration: &str, size: u32) -> Result<(String, String, FieldKind), String> {
    let mut location = None;
    let mut rest = declaration;
    for (prefix, relative) in [("__data_loc", false), ("__rel_loc", true)] {
        if let Some(after) = declaration.strip_prefix(prefix) {
            if after.starts_with(char::is_whitespace) {
                location = Some(relative);
                rest = after.trim();
            }
        }
    }
    // `char comm[16]`: brackets after the name.
    let (head, mut brackets) = match split_brackets(rest) {
        Some((head, inner)) => (head, Some(inner)),
        None => (rest, None),
    };
    let name_len = head
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let name_start = head.len() - name_len;
    let name = &head[name_start..];
    let mut type_part = head[..name_start].trim();
    if name.is_empty() {
        return Err("the declaration has no name".into());
    }
    // `__data_loc char[] name`: brackets after the type.
    if brackets.is_none() {
        if let Some((t, inner)) = split_brackets(type_part) {
            type_part = t;
            brackets = Some(inner);
        }
    }
    let type_name = normalize_type(type_part);
    if type_name.is_empty() {
        return Err(format!("no type before the name `{name}`"));
    }
    let kind = match (location, brackets) {
        (Some(relative), _) => FieldKind::DataLoc { relative },
        (None, Some(inner)) => {
            let mut len = declared_array_len(&format!("[{inner}]"));
            if len == 0 {
                // `[TASK_COMM_LEN]` or `[]`: the size tells the length.
                len = match natural_size(&type_name) {
                    0 => 0,
                    n => size / n,
                };
            }
            FieldKind::Array { len }
        }
        (None, None) => FieldKind::Scalar,
    };
    Ok((name.to_string(), type_name, kind))
}

/// `text[inner]` at the end of `text`: the part before the brackets and the
/// part inside.
fn split_brackets(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_end();
    let body = text.strip_suffix(']')?;
    let open = body.rfind('[')?;
    Some((body[..open].trim_end(), &body[open + 1..]))
}

/// Words and `*` separated by single spaces: `const char*` becomes
/// `const char *`.
fn normalize_type(text: &str) -> String {
    let mut words = Vec::new();
    for piece in text.split_whitespace() {
        let mut word = String::new();
        for c in piece.chars() {
            if c == '*' {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                words.push("*".to_string());
            } else {
                word.push(c);
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Format files from a 6.18 kernel, as tracefs shows them.
    const SCHED_SWITCH: &str = r#"name: sched_switch
ID: 372
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:char prev_comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t prev_pid;	offset:24;	size:4;	signed:1;
	field:int prev_prio;	offset:28;	size:4;	signed:1;
	field:long prev_state;	offset:32;	size:8;	signed:1;
	field:char next_comm[16];	offset:40;	size:16;	signed:0;
	field:pid_t next_pid;	offset:56;	size:4;	signed:1;
	field:int next_prio;	offset:60;	size:4;	signed:1;

print fmt: "prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d", REC->prev_comm, REC->prev_pid, REC->prev_prio, (REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1), "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000004, "T" }, { 0x00000008, "t" }, { 0x00000010, "X" }, { 0x00000020, "Z" }, { 0x00000040, "P" }, { 0x00000080, "I" }) : "R", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? "+" : "", REC->next_comm, REC->next_pid, REC->next_prio
"#;
    const KMALLOC: &str = r#"name: kmalloc
ID: 658
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:unsigned long call_site;	offset:8;	size:8;	signed:0;
	field:const void * ptr;	offset:16;	size:8;	signed:0;
	field:size_t bytes_req;	offset:24;	size:8;	signed:0;
	field:size_t bytes_alloc;	offset:32;	size:8;	signed:0;
	field:unsigned long gfp_flags;	offset:40;	size:8;	signed:0;
	field:int node;	offset:48;	size:4;	signed:1;

print fmt: "call_site=%pS ptr=%p bytes_req=%zu bytes_alloc=%zu gfp_flags=%s node=%d accounted=%s", (void *)REC->call_site, REC->ptr, REC->bytes_req, REC->bytes_alloc, (REC->gfp_flags) ? __print_flags(REC->gfp_flags, "|", {( unsigned long)(((((((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))) | (( gfp_t)((((1UL))) << (3))) | (( gfp_t)0)) | (( gfp_t)((((1UL))) << (18))) | (( gfp_t)((((1UL))) << (19))) | (( gfp_t)((((1UL))) << (13)))) & ~(( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11))))) | (( gfp_t)((((1UL))) << (10)))), "GFP_TRANSHUGE"}, {( unsigned long)((((((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))) | (( gfp_t)((((1UL))) << (3))) | (( gfp_t)0)) | (( gfp_t)((((1UL))) << (18))) | (( gfp_t)((((1UL))) << (19))) | (( gfp_t)((((1UL))) << (13)))) & ~(( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11))))), "GFP_TRANSHUGE_LIGHT"}, {( unsigned long)((((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))) | (( gfp_t)((((1UL))) << (3))) | (( gfp_t)0)), "GFP_HIGHUSER_MOVABLE"}, {( unsigned long)(((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))), "GFP_HIGHUSER"}, {( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))), "GFP_USER"}, {( unsigned long)(((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7)))) | (( gfp_t)((((1UL))) << (22)))), "GFP_KERNEL_ACCOUNT"}, {( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7)))), "GFP_KERNEL"}, {( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6)))), "GFP_NOFS"}, {( unsigned long)((( gfp_t)((((1UL))) << (5)))|(( gfp_t)((((1UL))) << (11)))), "GFP_ATOMIC"}, {( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11))))), "GFP_NOIO"}, {( unsigned long)((( gfp_t)((((1UL))) << (11))) | (( gfp_t)((((1UL))) << (13)))), "GFP_NOWAIT"}, {( unsigned long)(( gfp_t)((((1UL))) << (0))), "GFP_DMA"}, {( unsigned long)(( gfp_t)((((1UL))) << (2))), "GFP_DMA32"}, {( unsigned long)(( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))), "__GFP_RECLAIM"}, {( unsigned long)(( gfp_t)((((1UL))) << (0))), "__GFP_DMA"}, {( unsigned long)(( gfp_t)((((1UL))) << (1))), "__GFP_HIGHMEM"}, {( unsigned long)(( gfp_t)((((1UL))) << (2))), "__GFP_DMA32"}, {( unsigned long)(( gfp_t)((((1UL))) << (3))), "__GFP_MOVABLE"}, {( unsigned long)(( gfp_t)((((1UL))) << (4))), "__GFP_RECLAIMABLE"}, {( unsigned long)(( gfp_t)((((1UL))) << (5))), "__GFP_HIGH"}, {( unsigned long)(( gfp_t)((((1UL))) << (6))), "__GFP_IO"}, {( unsigned long)(( gfp_t)((((1UL))) << (7))), "__GFP_FS"}, {( unsigned long)(( gfp_t)((((1UL))) << (8))), "__GFP_ZERO"}, {( unsigned long)(( gfp_t)((((1UL))) << (10))), "__GFP_DIRECT_RECLAIM"}, {( unsigned long)(( gfp_t)((((1UL))) << (11))), "__GFP_KSWAPD_RECLAIM"}, {( unsigned long)(( gfp_t)((((1UL))) << (12))), "__GFP_WRITE"}, {( unsigned long)(( gfp_t)((((1UL))) << (13))), "__GFP_NOWARN"}, {( unsigned long)(( gfp_t)((((1UL))) << (14))), "__GFP_RETRY_MAYFAIL"}, {( unsigned long)(( gfp_t)((((1UL))) << (15))), "__GFP_NOFAIL"}, {( unsigned long)(( gfp_t)((((1UL))) << (16))), "__GFP_NORETRY"}, {( unsigned long)(( gfp_t)((((1UL))) << (17))), "__GFP_MEMALLOC"}, {( unsigned long)(( gfp_t)((((1UL))) << (18))), "__GFP_COMP"}, {( unsigned long)(( gfp_t)((((1UL))) << (19))), "__GFP_NOMEMALLOC"}, {( unsigned long)(( gfp_t)((((1UL))) << (20))), "__GFP_HARDWALL"}, {( unsigned long)(( gfp_t)((((1UL))) << (21))), "__GFP_THISNODE"}, {( unsigned long)(( gfp_t)((((1UL))) << (22))), "__GFP_ACCOUNT"}, {( unsigned long)(( gfp_t)((((1UL))) << (23))), "__GFP_ZEROTAGS"}, {( unsigned long)(( gfp_t)((((1UL))) << (24))), "__GFP_NO_OBJ_EXT"}, { 0, ((void *)0) } ) : "none", REC->node, (1 && (REC->gfp_flags & ( unsigned long)(( gfp_t)((((1UL))) << (22))))) ? "true" : "false"
"#;
    const SYS_ENTER: &str = r#"name: sys_enter
ID: 443
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:long id;	offset:8;	size:8;	signed:1;
	field:unsigned long args[6];	offset:16;	size:48;	signed:0;

print fmt: "NR %ld (%lx, %lx, %lx, %lx, %lx, %lx)", REC->id, REC->args[0], REC->args[1], REC->args[2], REC->args[3], REC->args[4], REC->args[5]
"#;
    const HRTIMER_START: &str = r#"name: hrtimer_start
ID: 460
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:void * hrtimer;	offset:8;	size:8;	signed:0;
	field:void * function;	offset:16;	size:8;	signed:0;
	field:s64 expires;	offset:24;	size:8;	signed:1;
	field:s64 softexpires;	offset:32;	size:8;	signed:1;
	field:enum hrtimer_mode mode;	offset:40;	size:4;	signed:0;
	field:bool was_armed;	offset:44;	size:1;	signed:0;

print fmt: "hrtimer=%p function=%ps expires=%llu softexpires=%llu mode=%s was_armed=%d", REC->hrtimer, REC->function, (unsigned long long) REC->expires, (unsigned long long) REC->softexpires, __print_symbolic(REC->mode, { HRTIMER_MODE_ABS, "ABS" }, { HRTIMER_MODE_REL, "REL" }, { HRTIMER_MODE_ABS_PINNED, "ABS|PINNED" }, { HRTIMER_MODE_REL_PINNED, "REL|PINNED" }, { HRTIMER_MODE_ABS_SOFT, "ABS|SOFT" }, { HRTIMER_MODE_REL_SOFT, "REL|SOFT" }, { HRTIMER_MODE_ABS_PINNED_SOFT, "ABS|PINNED|SOFT" }, { HRTIMER_MODE_REL_PINNED_SOFT, "REL|PINNED|SOFT" }, { HRTIMER_MODE_ABS_HARD, "ABS|HARD" }, { HRTIMER_MODE_REL_HARD, "REL|HARD" }, { HRTIMER_MODE_ABS_PINNED_HARD, "ABS|PINNED|HARD" }, { HRTIMER_MODE_REL_PINNED_HARD, "REL|PINNED|HARD" }), REC->was_armed
"#;
    const SCHED_PROCESS_EXEC: &str = r#"name: sched_process_exec
ID: 365
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:__data_loc char[] filename;	offset:8;	size:4;	signed:0;
	field:pid_t pid;	offset:12;	size:4;	signed:1;
	field:pid_t old_pid;	offset:16;	size:4;	signed:1;

print fmt: "filename=%s pid=%d old_pid=%d", __get_str(filename), REC->pid, REC->old_pid
"#;
    const NO_FIELDS: &str = "name: cpu_idle_miss\nID: 9\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\nprint fmt: \"idle\"\n";

    /// A record of the common header for event `id` followed by `body`.
    fn record(id: u16, body: &[u8]) -> Vec<u8> {
        let mut raw = id.to_le_bytes().to_vec();
        raw.extend_from_slice(&[0, 0]);
        raw.extend_from_slice(&1234i32.to_le_bytes());
        raw.extend_from_slice(body);
        raw
    }

    fn comm(name: &str) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[..name.len()].copy_from_slice(name.as_bytes());
        c
    }

    struct Syms;
    impl KernelSymbolizer for Syms {
        fn symbolize(&self, addr: u64) -> Option<(&str, u64)> {
            match addr {
                0xffff_ffff_8100_0000..=0xffff_ffff_8100_0fff => {
                    Some(("kmalloc_caller", addr - 0xffff_ffff_8100_0000))
                }
                0xffff_ffff_8200_0000 => Some(("tick_nohz_handler", 0)),
                _ => None,
            }
        }
    }

    #[test]
    fn parses_sched_switch() {
        let f = TracepointFormat::parse("sched", SCHED_SWITCH).unwrap();
        assert_eq!((f.name.as_str(), f.id), ("sched_switch", 372));
        assert_eq!(f.fields.len(), 11);
        assert_eq!(f.fields.iter().filter(|f| f.common).count(), 4);
        let prev_comm = f.field("prev_comm").unwrap();
        assert_eq!(prev_comm.kind, FieldKind::Array { len: 16 });
        assert_eq!(
            (
                prev_comm.type_name.as_str(),
                prev_comm.offset,
                prev_comm.size
            ),
            ("char", 8, 16)
        );
        assert!(prev_comm.is_string());
        let pid = f.field("prev_pid").unwrap();
        assert_eq!(
            (pid.type_name.as_str(), pid.signed, pid.kind),
            ("pid_t", true, FieldKind::Scalar)
        );
        assert!(f.print.is_ok(), "{:?}", f.print);
        assert_eq!(f.event_fields().count(), 7);
        assert_eq!(f.flag_delimiter("prev_state"), Some("|"));
        assert_eq!(
            f.flag_table("prev_state").unwrap()[7],
            (0x80, "I".to_string())
        );
    }

    #[test]
    fn formats_sched_switch_like_perf() {
        let f = TracepointFormat::parse("sched", SCHED_SWITCH).unwrap();
        let mut body = Vec::new();
        body.extend_from_slice(&comm("perf"));
        body.extend_from_slice(&10654i32.to_le_bytes());
        body.extend_from_slice(&120i32.to_le_bytes());
        body.extend_from_slice(&2i64.to_le_bytes());
        body.extend_from_slice(&comm("migration/0"));
        body.extend_from_slice(&18i32.to_le_bytes());
        body.extend_from_slice(&0i32.to_le_bytes());
        let raw = record(372, &body);
        assert_eq!(
            f.format_event(&raw, &NoSymbols),
            "prev_comm=perf prev_pid=10654 prev_prio=120 prev_state=D ==> next_comm=migration/0 next_pid=18 next_prio=0"
        );
        assert_eq!(
            f.value(f.field("prev_comm").unwrap(), &raw).unwrap(),
            Value::Str("perf".into())
        );
        assert_eq!(
            f.value(f.field("prev_state").unwrap(), &raw).unwrap(),
            Value::Signed(2)
        );
        assert_eq!(
            f.value(f.field("common_pid").unwrap(), &raw)
                .unwrap()
                .to_string(),
            "1234"
        );
    }

    #[test]
    fn formats_kmalloc_with_symbols_and_gfp_flags() {
        let f = TracepointFormat::parse("kmem", KMALLOC).unwrap();
        assert!(f.print.is_ok(), "{:?}", f.print);
        let mut body = Vec::new();
        body.extend_from_slice(&0xffff_ffff_8100_010cu64.to_le_bytes());
        body.extend_from_slice(&0xffff_8881_02b1_e2e0u64.to_le_bytes());
        body.extend_from_slice(&32u64.to_le_bytes());
        body.extend_from_slice(&32u64.to_le_bytes());
        body.extend_from_slice(&0xcc0u64.to_le_bytes()); // GFP_KERNEL
        body.extend_from_slice(&(-1i32).to_le_bytes());
        body.extend_from_slice(&[0; 4]);
        let raw = record(658, &body);
        assert_eq!(
            f.format_event(&raw, &Syms),
            "call_site=kmalloc_caller+0x10c ptr=0xffff888102b1e2e0 bytes_req=32 bytes_alloc=32 gfp_flags=GFP_KERNEL node=-1 accounted=false"
        );
        let table = f.flag_table("gfp_flags").unwrap();
        assert!(table.iter().any(|(v, n)| *v == 0xcc0 && n == "GFP_KERNEL"));
        assert_eq!(f.flag_delimiter("gfp_flags"), Some("|"));
    }

    #[test]
    fn formats_sys_enter_array() {
        let f = TracepointFormat::parse("raw_syscalls", SYS_ENTER).unwrap();
        let args = f.field("args").unwrap();
        assert_eq!(args.kind, FieldKind::Array { len: 6 });
        assert_eq!(args.element_size(), 8);
        let mut body = 16i64.to_le_bytes().to_vec();
        for a in [0x3fu64, 0x2400, 0, 0x7fa0_1842_b5e0, 1, 0] {
            body.extend_from_slice(&a.to_le_bytes());
        }
        let raw = record(443, &body);
        assert_eq!(
            f.format_event(&raw, &NoSymbols),
            "NR 16 (3f, 2400, 0, 7fa01842b5e0, 1, 0)"
        );
        assert_eq!(
            f.value(args, &raw).unwrap(),
            Value::Unsigneds(vec![0x3f, 0x2400, 0, 0x7fa0_1842_b5e0, 1, 0])
        );
    }

    #[test]
    fn hrtimer_start_unknown_enum_names_print_hex() {
        let f = TracepointFormat::parse("timer", HRTIMER_START).unwrap();
        let mut body = 0xffff_8886_27d1_c6f8u64.to_le_bytes().to_vec();
        body.extend_from_slice(&0xffff_ffff_8200_0000u64.to_le_bytes());
        body.extend_from_slice(&8_153_080_000_000i64.to_le_bytes());
        body.extend_from_slice(&8_153_080_000_000i64.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
        let raw = record(460, &body);
        assert_eq!(
            f.format_event(&raw, &Syms),
            "hrtimer=0xffff888627d1c6f8 function=tick_nohz_handler expires=8153080000000 softexpires=8153080000000 mode=0x0 was_armed=0"
        );
    }

    #[test]
    fn data_loc_strings() {
        let f = TracepointFormat::parse("sched", SCHED_PROCESS_EXEC).unwrap();
        let filename = f.field("filename").unwrap();
        assert_eq!(filename.kind, FieldKind::DataLoc { relative: false });
        assert_eq!(filename.type_name, "char");
        assert!(filename.is_string());
        let mut body = ((8u32 << 16) | 20).to_le_bytes().to_vec(); // at 20, 8 bytes
        body.extend_from_slice(&42i32.to_le_bytes());
        body.extend_from_slice(&41i32.to_le_bytes());
        body.extend_from_slice(b"/bin/sh\0");
        let raw = record(300, &body);
        assert_eq!(
            f.format_event(&raw, &NoSymbols),
            "filename=/bin/sh pid=42 old_pid=41"
        );
        assert_eq!(
            f.value(filename, &raw).unwrap(),
            Value::Str("/bin/sh".into())
        );
        // A descriptor pointing past the record is an error naming the field.
        let mut bad = raw.clone();
        bad[8..12].copy_from_slice(&((64u32 << 16) | 20).to_le_bytes());
        let err = f.value(filename, &bad).unwrap_err();
        assert!(err.to_string().contains("`filename`"), "{err}");
        let err = f
            .value(f.field("old_pid").unwrap(), &raw[..14])
            .unwrap_err();
        assert!(err.to_string().contains("`old_pid`"), "{err}");
    }

    #[test]
    fn rel_loc_is_relative_to_the_field_end() {
        let text = "name: t\nID: 7\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:__rel_loc char[] msg;\toffset:2;\tsize:4;\tsigned:0;\n\nprint fmt: \"%s\", __get_rel_str(msg)\n";
        let f = TracepointFormat::parse("test", text).unwrap();
        let mut raw = 7u16.to_le_bytes().to_vec();
        raw.extend_from_slice(&((3u32 << 16) | 1).to_le_bytes()); // at 6 + 1
        raw.extend_from_slice(b"xhi\0");
        assert_eq!(
            f.value(f.field("msg").unwrap(), &raw).unwrap(),
            Value::Str("hi".into())
        );
        assert_eq!(f.format_event(&raw, &NoSymbols), "hi");
    }

    #[test]
    fn declarations() {
        let cases = [
            (
                "char comm[16]",
                16,
                "comm",
                "char",
                FieldKind::Array { len: 16 },
            ),
            (
                "char comm[TASK_COMM_LEN]",
                16,
                "comm",
                "char",
                FieldKind::Array { len: 16 },
            ),
            (
                "const char * fmt",
                8,
                "fmt",
                "const char *",
                FieldKind::Scalar,
            ),
            ("void *ptr", 8, "ptr", "void *", FieldKind::Scalar),
            (
                "__data_loc u64[] addrs",
                4,
                "addrs",
                "u64",
                FieldKind::DataLoc { relative: false },
            ),
            (
                "__data_loc cpumask_t mask",
                4,
                "mask",
                "cpumask_t",
                FieldKind::DataLoc { relative: false },
            ),
            ("u32 buf[]", 0, "buf", "u32", FieldKind::Array { len: 0 }),
            (
                "unsigned long long  val",
                8,
                "val",
                "unsigned long long",
                FieldKind::Scalar,
            ),
        ];
        for (decl, size, name, type_name, kind) in cases {
            let (n, t, k) = parse_declaration(decl, size).unwrap();
            assert_eq!(
                (n.as_str(), t.as_str(), k),
                (name, type_name, kind),
                "{decl}"
            );
        }
        assert!(parse_declaration("[4]", 4).is_err());
        assert!(parse_declaration("name", 4).is_err());
    }

    #[test]
    fn no_fields_and_errors() {
        let f = TracepointFormat::parse("power", NO_FIELDS).unwrap();
        assert_eq!(f.event_fields().count(), 0);
        assert_eq!(f.format_event(&[9, 0], &NoSymbols), "idle");
        let err = TracepointFormat::parse("x", "name: a\nID: b\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2: `ID:` is not a number: `b`");
        let err =
            TracepointFormat::parse("x", "name: a\nID: 1\nformat:\n\tfield:int x;\toffset:0;\n")
                .unwrap_err();
        assert_eq!(err.to_string(), "line 4: field `int x` has no `size:`");
        assert_eq!(
            TracepointFormat::parse("x", "ID: 1\n").unwrap_err(),
            FormatError::Missing("name:")
        );
    }

    #[test]
    fn unparsable_print_fmt_prints_fields_like_perf() {
        let text = "name: t\nID: 7\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:int dev;\toffset:4;\tsize:4;\tsigned:1;\n\tfield:unsigned long t;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:char name[8];\toffset:16;\tsize:8;\tsigned:0;\n\tfield:u8 mac[2];\toffset:24;\tsize:2;\tsigned:0;\n\nprint fmt: \"%u\", jiffies_to_msecs(REC->t)\n";
        let f = TracepointFormat::parse("test", text).unwrap();
        assert!(f.print.as_ref().unwrap_err().contains("jiffies_to_msecs"));
        let mut raw = vec![7, 0, 0, 0];
        raw.extend_from_slice(&(-2i32).to_le_bytes());
        raw.extend_from_slice(&255u64.to_le_bytes());
        raw.extend_from_slice(b"ab\0\0\0\0\0\0");
        raw.extend_from_slice(&[1, 0xfe]);
        assert_eq!(
            f.format_event(&raw, &NoSymbols),
            "[FAILED TO PARSE] dev=-2 t=0xff name=ab mac=ARRAY[01, fe]"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const REAL: [&str; 5] = [
            SCHED_SWITCH,
            KMALLOC,
            SYS_ENTER,
            HRTIMER_START,
            SCHED_PROCESS_EXEC,
        ];

        /// Pieces of print fmt syntax, so that random text reaches the
        /// parser's corners rather than stopping at the first character.
        const PIECES: [&str; 40] = [
            "REC->",
            "prev_state",
            "args",
            "filename",
            "(",
            ")",
            ",",
            "?",
            ":",
            "[",
            "]",
            "{",
            "}",
            "\"",
            "\"%s\"",
            "\"%d %lx %*s %pS %pI6c %pU %ph\"",
            "'a'",
            "0x10",
            "1UL",
            "<<",
            ">>",
            "&&",
            "||",
            "|",
            "&",
            "^",
            "-",
            "+",
            "*",
            "/",
            "%",
            "!",
            "~",
            "==",
            "__print_flags(",
            "__print_symbolic(",
            "__get_str(",
            "__get_dynamic_array(",
            "sizeof(",
            "(unsigned long)",
        ];

        fn parse_and_format(system: &str, text: &str, raw: &[u8]) {
            if let Ok(format) = TracepointFormat::parse(system, text) {
                let _ = format.format_event(raw, &Syms);
                for field in &format.fields {
                    let _ = format.value(field, raw).map(|v| v.to_string());
                }
                let _ = format.flag_table("prev_state");
                let _ = format.symbolic_table("mode");
            }
        }

        /// One edit of a text: delete a range, insert a piece or a byte,
        /// or duplicate a range.
        fn mutate(text: &str, edits: &[(u8, usize, usize, u8)]) -> String {
            let mut bytes = text.as_bytes().to_vec();
            for &(kind, a, b, byte) in edits {
                let len = bytes.len().max(1);
                let (a, b) = (a % len, b % len);
                let (lo, hi) = (a.min(b), a.max(b).min(bytes.len()));
                match kind % 4 {
                    0 if lo < hi => {
                        bytes.drain(lo..hi);
                    }
                    1 => {
                        let piece = PIECES[b % PIECES.len()].as_bytes();
                        let at = lo.min(bytes.len());
                        bytes.splice(at..at, piece.iter().copied());
                    }
                    2 => {
                        let at = lo.min(bytes.len());
                        bytes.insert(at, byte);
                    }
                    _ if lo < hi && hi - lo < 4096 => {
                        let copy = bytes[lo..hi].to_vec();
                        bytes.splice(lo..lo, copy);
                    }
                    _ => {}
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }

        proptest! {
            #[test]
            fn arbitrary_text_never_panics(text in ".{0,400}", raw in proptest::collection::vec(any::<u8>(), 0..128)) {
                parse_and_format("ftrace", &text, &raw);
                parse_and_format("sched", &format!("name: x\nID: 1\nformat:\n{text}"), &raw);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let text = String::from_utf8_lossy(&bytes);
                parse_and_format("x", &text, &bytes);
            }

            #[test]
            fn random_records_of_real_formats_never_panic(
                which in 0..REAL.len(),
                raw in proptest::collection::vec(any::<u8>(), 0..160),
            ) {
                parse_and_format("sched", REAL[which], &raw);
            }

            #[test]
            fn mutated_real_formats_never_panic(
                which in 0..REAL.len(),
                edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>(), any::<u8>()), 1..8),
                raw in proptest::collection::vec(any::<u8>(), 0..160),
            ) {
                let text = mutate(REAL[which], &edits);
                parse_and_format("sched", &text, &raw);
            }

            #[test]
            fn random_print_fmts_never_panic(
                pieces in proptest::collection::vec(0..PIECES.len(), 0..60),
                raw in proptest::collection::vec(any::<u8>(), 0..160),
            ) {
                let args: String = pieces.iter().map(|&i| PIECES[i]).collect::<Vec<_>>().join(" ");
                let text = format!("{}print fmt: \"%s %d %lx %pS %*s\", {args}\n", &SCHED_SWITCH[..SCHED_SWITCH.find("print fmt:").unwrap()]);
                parse_and_format("sched", &text, &raw);
            }
        }
    }
}
