//! Drawing an [`App`] into a ratatui frame. Drawing reads the state and
//! changes only what it learns about the screen (page size, where the
//! timeline's columns are), so the same state draws the same screen.

use crate::app::{App, CallOrder, ReportLine, View};
use crate::model::Model;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Wrap};
use ratatui::Frame;

const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
const HEADER: Style = Style::new().add_modifier(Modifier::BOLD);

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    let area = frame.area();
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(frame, tabs, app);
    app.page = body.height.saturating_sub(2).max(1) as usize;
    match &app.model {
        None => draw_loading(frame, body, app),
        Some(model) => {
            let model = model.clone();
            match app.view {
                View::Report => draw_report(frame, body, app, &model),
                View::Flame => draw_flame(frame, body, app, &model),
                View::Timeline => draw_timeline(frame, body, app, &model),
                View::Events => draw_events(frame, body, app, &model),
                View::Header => draw_header(frame, body, app, &model),
            }
        }
    }
    draw_status(frame, status, app);
    if app.help {
        draw_help(frame, area);
    }
}

fn draw_tabs(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let mut spans = Vec::new();
    for (i, view) in View::ALL.iter().enumerate() {
        let text = format!(" {} {} ", i + 1, view.name());
        let style = if *view == app.view {
            SELECTED
        } else {
            Style::new()
        };
        spans.push(Span::styled(text, style));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let title = format!(" strobe: {}", app.title);
    let room = (area.width as usize).saturating_sub(used);
    let title: String = if title.chars().count() > room {
        title.chars().take(room).collect()
    } else {
        format!("{title:>room$}")
    };
    spans.push(Span::styled(title, HEADER));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_loading(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if let Some(error) = &app.load_error {
        let text = format!("cannot load {}: {error}\n\npress q to quit", app.title);
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), area);
        return;
    }
    let (done, total) = app.progress;
    let ratio = app.loaded_fraction();
    let [_, line, gauge, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(format!(
            "  loading {}: {} of {} MiB read",
            app.title,
            done >> 20,
            total >> 20
        )),
        line,
    );
    let gauge_area = Rect {
        x: gauge.x + 2,
        width: gauge.width.saturating_sub(4),
        ..gauge
    };
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .gauge_style(Style::new().fg(Color::Cyan)),
        gauge_area,
    );
}

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        format!("{text:<width$}")
    } else {
        let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn draw_report(frame: &mut Frame<'_>, area: Rect, app: &mut App, model: &Model) {
    let event = model.events.get(app.event).map_or("", String::as_str);
    if app.rows.is_empty() {
        let why = if model.samples == 0 {
            format!(
                "no samples in this recording ({} events)",
                model.events.len()
            )
        } else {
            format!("no {event} samples pass the filter, zoom and window (x clears the filter, w the window, Esc zooms out)")
        };
        frame.render_widget(Paragraph::new(why).wrap(Wrap { trim: false }), area);
        return;
    }
    let height = area.height.saturating_sub(1) as usize;
    if app.selected < app.scroll {
        app.scroll = app.selected;
    } else if app.selected >= app.scroll + height {
        app.scroll = app.selected + 1 - height;
    }
    let end = (app.scroll + height).min(app.lines.len());
    let rows_shown: Vec<usize> = app.lines[app.scroll..end]
        .iter()
        .filter_map(|l| match l {
            ReportLine::Row(i) => Some(*i),
            _ => None,
        })
        .collect();
    for i in rows_shown {
        app.fill_columns(i..i + 1);
    }
    let visible = &app.lines[app.scroll..end];
    // Columns as wide as their widest visible value, up to 40.
    let keys = app.sort_keys();
    let mut widths: Vec<usize> = keys.iter().map(|k| k.header().len()).collect();
    for line in visible {
        if let ReportLine::Row(i) = line {
            for (w, c) in widths.iter_mut().zip(&app.rows[*i].columns) {
                *w = (*w).max(c.chars().count()).min(40);
            }
        }
    }
    let children = app.children && model.call_graph;
    let mut header = String::from("  ");
    if children {
        header.push_str("Children      Self  ");
    } else {
        header.push_str("Overhead  ");
    }
    let last = keys.len() - 1;
    for (i, (k, w)) in keys.iter().zip(&widths).enumerate() {
        if i == last {
            header.push_str(k.header());
        } else {
            header.push_str(&fit(k.header(), *w));
            header.push_str("  ");
        }
    }
    let mut lines = vec![Line::styled(header, HEADER)];
    let tree_indent = if children { 22 } else { 12 };
    for (n, line) in visible.iter().enumerate() {
        let text = match *line {
            ReportLine::Row(i) => {
                let row = &app.rows[i];
                let marker = if app.trees.contains_key(&row.key) {
                    '-'
                } else if model.call_graph {
                    '+'
                } else {
                    ' '
                };
                let mut text = format!("{marker} ");
                if children {
                    text.push_str(&format!(
                        "{:>7.2}%  {:>7.2}%  ",
                        percent(row.children_period, app.total_period),
                        percent(row.self_period, app.total_period)
                    ));
                } else {
                    text.push_str(&format!(
                        "{:>7.2}%  ",
                        percent(row.self_period, app.total_period)
                    ));
                }
                for (c, (col, w)) in row.columns.iter().zip(&widths).enumerate() {
                    if c == last {
                        text.push_str(col);
                    } else {
                        text.push_str(&fit(col, *w));
                        text.push_str("  ");
                    }
                }
                text
            }
            ReportLine::Node { row, node, depth } => {
                let key = app.rows[row].key;
                let tree = &app.trees[&key];
                let n = &tree.nodes[node];
                let marker = if n.children.is_empty() {
                    "--"
                } else if app.folded.contains(&(key, node)) {
                    "+-"
                } else {
                    "--"
                };
                format!(
                    "{:indent$}{marker}{:.2}%--{}",
                    "",
                    percent(n.period, app.total_period),
                    model.name(n.frame),
                    indent = tree_indent + depth * 3
                )
            }
        };
        let style = if app.scroll + n == app.selected {
            SELECTED
        } else {
            Style::new()
        };
        lines.push(Line::styled(text, style));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn color_of(name: &str) -> Color {
    // Warm colours, picked by a hash of the name so a function keeps its
    // colour across zooms.
    let h = name
        .bytes()
        .fold(5381u32, |h, b| h.wrapping_mul(33) ^ b as u32);
    Color::Rgb(
        205 + (h % 50) as u8,
        80 + (h / 50 % 150) as u8,
        (h / 7500 % 60) as u8,
    )
}

fn draw_flame(frame: &mut Frame<'_>, area: Rect, app: &mut App, model: &Model) {
    app.ensure_flame();
    let tree = &app.flame;
    let root = app.flame_node(&app.flame_zoom);
    if tree.nodes[root].period == 0 {
        frame.render_widget(
            Paragraph::new("no samples pass the filter, zoom and window"),
            area,
        );
        return;
    }
    let [graph, info] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let selected = app.flame_node(&app.flame_selected);
    let buf = frame.buffer_mut();
    // Breadth-first: (node, x, width, depth).
    let mut queue = vec![(root, graph.x as u64, graph.width as u64, 0u16)];
    while let Some((node, x, width, depth)) = queue.pop() {
        if depth >= graph.height || width == 0 {
            continue;
        }
        let n = &tree.nodes[node];
        let name = if n.frame == u32::MAX {
            "all"
        } else {
            model.name(n.frame)
        };
        let style = if node == selected {
            Style::new()
                .fg(Color::Black)
                .bg(Color::White)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Black).bg(color_of(name))
        };
        let y = graph.y + depth;
        let label: String = std::iter::once('|')
            .chain(name.chars())
            .chain(std::iter::repeat(' '))
            .take(width as usize)
            .collect();
        buf.set_stringn(x as u16, y, &label, width as usize, style);
        let mut done = 0u64;
        for &child in &n.children {
            let c = &tree.nodes[child];
            let start = done * width / n.period.max(1);
            let end = (done + c.period) * width / n.period.max(1);
            done += c.period;
            if end > start {
                queue.push((child, x + start, end - start, depth + 1));
            }
        }
    }
    let n = &tree.nodes[selected];
    let name = if n.frame == u32::MAX {
        "all".to_string()
    } else {
        model.name(n.frame).to_string()
    };
    let text = format!(
        "{name}: {:.2}% of the event ({} period){}",
        percent(n.period, app.total_period),
        n.period,
        if app.flame_zoom.is_empty() {
            String::new()
        } else {
            format!(", zoomed into {}", model.name(tree.nodes[root].frame))
        }
    );
    frame.render_widget(Paragraph::new(text).style(HEADER), info);
}

const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn draw_timeline(frame: &mut Frame<'_>, area: Rect, app: &mut App, model: &Model) {
    const LABEL: u16 = 20;
    if model.buckets == 0 {
        frame.render_widget(Paragraph::new("no samples in this recording"), area);
        return;
    }
    let columns = area.width.saturating_sub(LABEL).max(1);
    app.timeline_columns = (area.x + LABEL, columns);
    let buckets = model.buckets as u64;
    let column_of = |bucket: u32| (bucket as u64 * columns as u64 / buckets) as usize;
    // Rows: every CPU, then the busiest threads.
    let cpus = model.cpus();
    let mut threads: Vec<(i32, u32, u64)> = Vec::new();
    let mut thread_index: rustc_hash::FxHashMap<i32, usize> = Default::default();
    let mut cpu_cells = vec![vec![0u64; columns as usize]; cpus.len()];
    let mut thread_cells: Vec<Vec<u64>> = Vec::new();
    for c in &model.classes {
        if !app.passes_filters(c) {
            continue;
        }
        let col = column_of(c.bucket).min(columns as usize - 1);
        if let Ok(i) = cpus.binary_search(&c.cpu) {
            cpu_cells[i][col] += c.samples;
        }
        let t = *thread_index.entry(c.tid).or_insert_with(|| {
            threads.push((c.tid, c.comm, 0));
            thread_cells.push(vec![0u64; columns as usize]);
            threads.len() - 1
        });
        threads[t].2 += c.samples;
        thread_cells[t][col] += c.samples;
    }
    let mut order: Vec<usize> = (0..threads.len()).collect();
    order.sort_by(|&a, &b| {
        threads[b]
            .2
            .cmp(&threads[a].2)
            .then(threads[a].0.cmp(&threads[b].0))
    });
    let room = area.height.saturating_sub(4) as usize;
    let mut rows: Vec<(String, &Vec<u64>)> = Vec::new();
    for (i, cpu) in cpus.iter().enumerate() {
        let label = if *cpu == u32::MAX {
            "cpu ?".to_string()
        } else {
            format!("cpu {cpu:03}")
        };
        rows.push((label, &cpu_cells[i]));
    }
    for &t in order.iter() {
        let (tid, comm, _) = threads[t];
        rows.push((format!("{}/{tid}", model.name(comm)), &thread_cells[t]));
    }
    let hidden = rows.len().saturating_sub(room);
    rows.truncate(room);
    let max = rows
        .iter()
        .flat_map(|(_, cells)| cells.iter())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let window_cols = app.window.map(|(s, e)| {
        (
            column_of(s),
            column_of(e.saturating_sub(1)).max(column_of(s)),
        )
    });
    let in_window = |col: usize| window_cols.is_some_and(|(s, e)| col >= s && col <= e);
    let mut lines: Vec<Line<'_>> = Vec::new();
    for (label, cells) in &rows {
        let mut spans = vec![Span::raw(format!(
            "{:<w$}",
            fit(label, LABEL as usize - 1),
            w = LABEL as usize
        ))];
        let text: String = cells
            .iter()
            .map(|&v| {
                if v == 0 {
                    ' '
                } else {
                    LEVELS[(1 + v * 7 / max) as usize]
                }
            })
            .collect();
        for (col, ch) in text.chars().enumerate() {
            let style = if in_window(col) {
                Style::new().fg(Color::Yellow).bg(Color::DarkGray)
            } else {
                Style::new().fg(Color::Green)
            };
            spans.push(Span::styled(ch.to_string(), style));
        }
        lines.push(Line::from(spans));
    }
    if hidden > 0 {
        lines.push(Line::raw(format!("({hidden} more threads)")));
    }
    let duration = model.bucket_offset(model.buckets) as f64 / 1e9;
    // The window under the rows, then the cursor and the mark.
    let mut marks: Vec<char> = vec![' '; columns as usize];
    if let Some((s, e)) = window_cols {
        for m in &mut marks[s..=e.min(columns as usize - 1)] {
            *m = '=';
        }
    }
    if let Some(mark) = app.mark {
        marks[column_of(mark).min(columns as usize - 1)] = '[';
    }
    marks[column_of(app.cursor).min(columns as usize - 1)] = '^';
    lines.push(Line::raw(format!(
        "{:<w$}{}",
        "",
        marks.iter().collect::<String>(),
        w = LABEL as usize
    )));
    let end = format!("{duration:.3}s");
    lines.push(Line::raw(format!(
        "{:<w$}0s{end:>r$}",
        "",
        w = LABEL as usize,
        r = (columns as usize).saturating_sub(2)
    )));
    let cursor_s = model.bucket_offset(app.cursor) as f64 / 1e9;
    let mut info = format!("cursor {cursor_s:.3}s");
    if let Some(mark) = app.mark {
        info.push_str(&format!(
            ", mark {:.3}s (Enter selects the window)",
            model.bucket_offset(mark) as f64 / 1e9
        ));
    } else {
        info.push_str(" (m marks one end, Enter the other; w clears)");
    }
    lines.push(Line::styled(info, HEADER));
    frame.render_widget(Paragraph::new(lines), area);
}

fn seconds(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
}

fn draw_events(frame: &mut Frame<'_>, area: Rect, app: &mut App, model: &Model) {
    if model.trace_events.is_empty() {
        frame.render_widget(
            Paragraph::new("no tracepoint or probe events in this recording (record with -e sched:sched_switch, for one)")
                .wrap(Wrap { trim: false }),
            area,
        );
        return;
    }
    let [list, detail] =
        Layout::vertical([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(area);
    let height = list.height.saturating_sub(1) as usize;
    app.page = height.max(1);
    if app.event_selected < app.event_scroll {
        app.event_scroll = app.event_selected;
    } else if app.event_selected >= app.event_scroll + height {
        app.event_scroll = app.event_selected + 1 - height;
    }
    let width = model.events.iter().map(|e| e.len()).max().unwrap_or(0);
    let mut lines = vec![Line::styled(
        format!(
            "{:>16} {:>7} {:>5} {:>13}  {:<width$}  Fields ({} events{})",
            "Command",
            "Tid",
            "CPU",
            "Time",
            "Event",
            app.event_lines.len(),
            if model.trace_events_dropped > 0 {
                format!(", {} more not loaded", model.trace_events_dropped)
            } else {
                String::new()
            }
        ),
        HEADER,
    )];
    let end = (app.event_scroll + height).min(app.event_lines.len());
    for (n, &i) in app.event_lines[app.event_scroll..end].iter().enumerate() {
        let e = &model.trace_events[i];
        let cpu = if e.cpu == u32::MAX {
            "[???]".to_string()
        } else {
            format!("[{:03}]", e.cpu)
        };
        let text = format!(
            "{:>16} {:>7} {cpu:>5} {:>13}: {:<width$}  {}",
            model.name(e.comm),
            e.tid,
            seconds(e.time),
            model
                .events
                .get(e.event as usize)
                .map_or("?", String::as_str),
            e.text
        );
        let style = if app.event_scroll + n == app.event_selected {
            SELECTED
        } else {
            Style::new()
        };
        lines.push(Line::styled(text, style));
    }
    if app.event_lines.is_empty() {
        lines.push(Line::raw("no events pass the filter and window"));
    }
    frame.render_widget(Paragraph::new(lines), list);
    let mut text: Vec<Line<'_>> = Vec::new();
    if let Some(&i) = app.event_lines.get(app.event_selected) {
        let e = &model.trace_events[i];
        text.push(Line::raw(format!(
            "{} at {} on cpu {} by {} (pid {}, tid {})",
            model
                .events
                .get(e.event as usize)
                .map_or("?", String::as_str),
            seconds(e.time),
            if e.cpu == u32::MAX {
                "?".to_string()
            } else {
                e.cpu.to_string()
            },
            model.name(e.comm),
            e.pid,
            e.tid
        )));
        for (name, value) in &e.fields {
            text.push(Line::raw(format!("  {name:<20} {value}")));
        }
    }
    frame.render_widget(
        Paragraph::new(text)
            .block(Block::default().borders(Borders::TOP).title(" Event "))
            .wrap(Wrap { trim: false }),
        detail,
    );
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, app: &mut App, model: &Model) {
    let lines: Vec<Line<'_>> = model
        .header
        .iter()
        .skip(app.header_scroll)
        .map(|l| Line::raw(l.as_str()))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

/// The status line's text: view, event, sort, filters, zooms and window.
pub fn status_text(app: &App) -> String {
    let mut parts: Vec<String> = Vec::new();
    match &app.model {
        None => {
            parts.push(format!("loading {:.0}%", app.loaded_fraction() * 100.0));
        }
        Some(model) => {
            if app.loading {
                parts.push(format!(
                    "loading {:.0}%, showing the samples read so far",
                    app.loaded_fraction() * 100.0
                ));
            }
            if let Some(event) = model.events.get(app.event) {
                parts.push(event.clone());
            }
            let keys: Vec<&str> = app.sort_keys().iter().map(|k| k.name()).collect();
            parts.push(format!("sort {}", keys.join(",")));
            if model.call_graph {
                parts.push(
                    match (app.children, app.order) {
                        (true, CallOrder::Callee) => "children, callee",
                        (true, CallOrder::Caller) => "children, caller",
                        (false, CallOrder::Callee) => "self, callee",
                        (false, CallOrder::Caller) => "self, caller",
                    }
                    .to_string(),
                );
            }
            if let Some((text, _)) = &app.filter {
                parts.push(format!("filter /{text}/"));
            }
            for zoom in &app.zooms {
                parts.push(format!("zoom {}", app.zoom_text(zoom)));
            }
            if let Some(window) = app.window_text() {
                parts.push(format!("window {window}"));
            }
            parts.push(format!("{} samples", model.samples));
        }
    }
    parts.push("? help  q quit".into());
    parts.join(" | ")
}

fn draw_status(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let line = if let Some(prompt) = &app.prompt {
        Line::from(vec![
            Span::styled("filter (symbol, command or DSO regex): /", HEADER),
            Span::raw(prompt.clone()),
            Span::styled("█", Style::new()),
        ])
    } else if let Some(message) = &app.message {
        Line::styled(
            message.clone(),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )
    } else {
        Line::styled(
            status_text(app),
            Style::new().bg(Color::Blue).fg(Color::White),
        )
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The help text.
pub const HELP: &str = "\
Views     1 Report  2 Flame  3 Timeline  4 Events  5 Header
          Tab / Shift-Tab  next / previous view
Anywhere  /  filter by regex on symbol, command or DSO (Enter applies)
          x  clear the filter      w  clear the time window
          e  next event            ?  this help      q  quit
Report    Up/Down PgUp/PgDn Home/End  move
          Enter  open or close a call chain (or a branch)
          E  open all      -  close all      c  caller/callee order
          s  next sort keys   C  children on/off
          t  zoom into thread   d  into DSO   z  into symbol
          Esc  zoom out
Flame     arrows  move   Enter  zoom into the node   Esc  zoom out
Timeline  Left/Right (Shift: faster)  move the cursor
          m  mark one end   Enter  select the window to the cursor
          Esc  clear         (or drag with the mouse)
Events    Up/Down  select an event; its fields show below
Mouse     wheel scrolls, click selects (twice opens), tabs switch views";

fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let width =
        (HELP.lines().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4).min(area.width);
    let height = (HELP.lines().count() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(HELP).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys (any key closes) "),
        ),
        popup,
    );
}

/// A buffer as text: one line per row, trailing spaces cut.
pub fn buffer_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.y..area.y + area.height {
        let mut line = String::new();
        for x in area.x..area.x + area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
