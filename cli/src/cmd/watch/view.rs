//! Drawing the [`Watch`] model: a header with the counts and the link to
//! the daemon, the pending approvals, the feed, and a footer with the keys.
//! Nothing here changes the model.

use super::model::{Approval, CountScope, Decision, Link, Watch, one_line};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// Rows of the approvals pane at most (borders excluded).
const PENDING_ROWS: usize = 6;

/// The footer's help line.
pub const HELP: &str = "q quit · ↑↓ jk select · a approve · d deny · f decision · g agent · / type agent · c clear · p pause · PgUp PgDn scroll";

/// The colour of a decision.
pub fn colour(decision: &str) -> Color {
    match decision {
        "deny" => Color::Red,
        "ask" => Color::Yellow,
        "watch" => Color::Magenta,
        "allow" => Color::Green,
        _ => Color::Gray,
    }
}

/// The four areas of the screen.
struct Areas {
    header: Rect,
    pending: Rect,
    feed: Rect,
    footer: Rect,
}

fn areas(area: Rect, w: &Watch) -> Areas {
    let pending_rows = w.pending.len().clamp(1, PENDING_ROWS) as u16;
    let [header, pending, feed, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(pending_rows + 2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        pending,
        feed,
        footer,
    }
}

/// Rows of decisions the feed shows in a screen of `area` (what PgUp and
/// PgDn move by).
pub fn feed_rows(area: Rect, w: &Watch) -> usize {
    areas(area, w).feed.height.saturating_sub(2) as usize
}

/// Draw everything; `now` is Unix seconds (approval ages).
pub fn draw(frame: &mut Frame, w: &Watch, now: f64) {
    let a = areas(frame.area(), w);
    frame.render_widget(header(w, now), a.header);
    frame.render_widget(
        pending(w, now, a.pending.height.saturating_sub(2)),
        a.pending,
    );
    frame.render_widget(feed(w, a.feed.height.saturating_sub(2) as usize), a.feed);
    frame.render_widget(footer(w), a.footer);
}

fn bold(c: Color) -> Style {
    Style::default().fg(c).add_modifier(Modifier::BOLD)
}

fn header(w: &Watch, now: f64) -> Paragraph<'static> {
    let link = match &w.link {
        Link::Starting => Line::from(Span::styled(
            "connecting…",
            Style::default().fg(Color::Gray),
        )),
        Link::Daemon { pid, generation } => Line::from(vec![
            Span::styled("● daemon", bold(Color::Green)),
            Span::raw(format!(
                " pid {pid} · policy generation {generation} · live event stream"
            )),
        ]),
        Link::Files => Line::from(vec![
            Span::styled(
                "approvals unavailable — rampart serve is not running",
                bold(Color::Yellow),
            ),
            Span::raw(" · following the audit files"),
        ]),
    };
    let mut link = link;
    if let Some(e) = &w.reload_error {
        link.push_span(Span::styled(
            format!(" · reload failed: {}", one_line(e)),
            bold(Color::Red),
        ));
    }
    if w.lagged > 0 {
        link.push_span(Span::styled(
            format!(" · {} events missed", w.lagged),
            Style::default().fg(Color::Yellow),
        ));
    }
    let (c, scope) = w.header_counts();
    let mut counts = vec![];
    for (label, n) in [
        ("allow", c.allow),
        ("deny", c.deny),
        ("ask", c.ask),
        ("watch", c.watch),
    ] {
        counts.push(Span::styled(format!("{label} "), bold(colour(label))));
        counts.push(Span::raw(format!("{n}   ")));
    }
    counts.push(Span::styled(
        "pending ",
        Style::default().add_modifier(Modifier::BOLD),
    ));
    counts.push(Span::raw(if w.approvals_available() {
        format!("{}", w.pending.len())
    } else {
        "-".to_string()
    }));
    // What the counts cover, as the dashboard says it.
    counts.push(Span::styled(
        match scope {
            CountScope::Daemon { since } => {
                format!("   since the daemon started {} ago", age(now - since))
            }
            CountScope::View => "   seen by this view".to_string(),
        },
        Style::default().fg(Color::Gray),
    ));
    Paragraph::new(vec![link, Line::from(counts)]).block(Block::bordered().title(" rampart watch "))
}

fn age(secs: f64) -> String {
    crate::cmd::approvals::age(secs)
}

fn pending(w: &Watch, now: f64, rows: u16) -> Paragraph<'static> {
    let title = format!(" Pending approvals ({}) ", w.pending.len());
    let block = Block::bordered().title(title);
    if !w.approvals_available() {
        let why = match w.link {
            Link::Starting => "connecting…",
            _ => "approvals unavailable — rampart serve is not running",
        };
        return Paragraph::new(Line::styled(why, Style::default().fg(Color::Yellow))).block(block);
    }
    if w.pending.is_empty() {
        return Paragraph::new(Line::styled(
            "nothing is waiting for approval",
            Style::default().fg(Color::Gray),
        ))
        .block(block);
    }
    // Keep the selection in view.
    let rows = rows.max(1) as usize;
    let first = w.selected.saturating_sub(rows - 1);
    let lines: Vec<Line> = w
        .pending
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, p)| approval_line(p, i == w.selected, now))
        .collect();
    Paragraph::new(lines).block(block)
}

fn approval_line(p: &Approval, selected: bool, now: f64) -> Line<'static> {
    let agent = if p.agent.is_empty() { "-" } else { &p.agent };
    let mut spans = vec![
        Span::raw(if selected { "▶ " } else { "  " }),
        Span::styled(format!("{:<8}", p.id), bold(Color::Yellow)),
        Span::raw(format!(
            " {:>4}  {:<10} ",
            age(now - p.created),
            one_line(agent)
        )),
        Span::styled(one_line(&p.command), Style::default().fg(Color::Yellow)),
    ];
    if !p.policy.is_empty() {
        spans.push(Span::styled(
            format!("  [{}]", one_line(&p.policy)),
            Style::default().fg(Color::Gray),
        ));
    }
    if !p.message.is_empty() {
        spans.push(Span::raw(format!(" {}", one_line(&p.message))));
    }
    let line = Line::from(spans);
    if selected {
        line.style(Style::default().add_modifier(Modifier::REVERSED))
    } else {
        line
    }
}

fn feed(w: &Watch, rows: usize) -> Paragraph<'static> {
    let mut title = vec![Span::raw(" Decisions, newest first ")];
    let mut filters = vec![];
    if let Some(d) = &w.decision_filter {
        filters.push(format!("decision={d}"));
    }
    if let Some(a) = &w.agent_filter {
        filters.push(format!("agent={}", one_line(a)));
    }
    if !filters.is_empty() {
        title.push(Span::styled(
            format!("[{}] ", filters.join(" ")),
            bold(Color::Cyan),
        ));
    }
    if w.paused_at.is_some() {
        title.push(Span::styled(
            format!("PAUSED ({} new) ", w.held()),
            bold(Color::Yellow).add_modifier(Modifier::REVERSED),
        ));
    }
    if w.scroll > 0 {
        title.push(Span::raw(format!("↓{} ", w.scroll)));
    }
    let lines: Vec<Line> = w.page(rows).into_iter().map(decision_line).collect();
    let body = if lines.is_empty() {
        vec![Line::styled(
            "no decisions yet",
            Style::default().fg(Color::Gray),
        )]
    } else {
        lines
    };
    Paragraph::new(body).block(Block::bordered().title(Line::from(title)))
}

fn decision_line(d: &Decision) -> Line<'static> {
    let c = colour(&d.decision);
    let when = d.time.get(11..19).unwrap_or(&d.time).to_string();
    let agent = if d.agent.is_empty() { "-" } else { &d.agent };
    let command_style = match d.decision.as_str() {
        "allow" => Style::default(),
        _ => Style::default().fg(c),
    };
    let mut spans = vec![
        Span::styled(format!("{when} "), Style::default().fg(Color::Gray)),
        Span::styled(format!("{:<5} ", d.decision), bold(c)),
        Span::raw(format!("{:<10} ", one_line(agent))),
        Span::styled(one_line(&d.target), command_style),
    ];
    if !d.policy.is_empty() {
        spans.push(Span::styled(
            format!("  [{}]", one_line(&d.policy)),
            Style::default().fg(Color::Gray),
        ));
    }
    if let Some(a) = &d.approval {
        spans.push(Span::raw(format!(" ({})", one_line(a))));
    }
    if !d.message.is_empty() {
        spans.push(Span::raw(format!(" {}", one_line(&d.message))));
    }
    Line::from(spans)
}

fn footer(w: &Watch) -> Paragraph<'static> {
    if let Some(text) = &w.typing {
        return Paragraph::new(Line::from(vec![
            Span::styled("agent filter: ", bold(Color::Cyan)),
            Span::raw(one_line(text)),
            Span::styled("▏", Style::default().fg(Color::Cyan)),
            Span::raw("  (Enter applies, empty clears, Esc cancels)"),
        ]));
    }
    match &w.note {
        Some(n) => Paragraph::new(Line::styled(n.clone(), bold(Color::Yellow))),
        None => Paragraph::new(Line::styled(HELP, Style::default().fg(Color::Gray))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{Approval, Counts, DaemonTotals, Decision, Key, Update};
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    fn render(w: &Watch, width: u16, height: u16) -> Buffer {
        let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
        t.draw(|f| draw(f, w, 1000.0)).unwrap();
        t.backend().buffer().clone()
    }

    fn text(b: &Buffer) -> Vec<String> {
        (0..b.area.height)
            .map(|y| {
                (0..b.area.width)
                    .map(|x| b[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect()
    }

    /// The row holding `needle`, and the column where it starts.
    fn find(b: &Buffer, needle: &str) -> Option<(u16, u16)> {
        text(b).iter().enumerate().find_map(|(y, l)| {
            l.find(needle).map(|byte| {
                let x = l[..byte].chars().count();
                (x as u16, y as u16)
            })
        })
    }

    fn dec(n: u32, decision: &str) -> Decision {
        Decision {
            time: format!("2026-11-22T01:02:{n:02}.000000Z"),
            decision: decision.into(),
            agent: "codex".into(),
            tool: "exec".into(),
            target: format!("/usr/bin/cmd{n}"),
            policy: format!("pol-{decision}"),
            message: format!("msg {n}"),
            approval: None,
            pid: 100 + n,
        }
    }

    fn live() -> Watch {
        let mut w = Watch::default();
        w.apply(Update::Connected {
            pid: 4242,
            generation: 7,
            pending: vec![
                Approval {
                    id: "1a2b3c4d".into(),
                    created: 988.0,
                    agent: "codex".into(),
                    command: "touch /tmp/marker".into(),
                    policy: "ask-touch".into(),
                    message: "touching needs a human".into(),
                },
                Approval {
                    id: "99ff00aa".into(),
                    created: 999.0,
                    command: "curl example.com".into(),
                    ..Approval::default()
                },
            ],
        });
        // The daemon's totals since it started (16 minutes before `now`
        // in `render`), then four decisions streamed after them.
        w.apply(Update::Totals(DaemonTotals {
            since: 40.0,
            counts: Counts {
                allow: 11,
                deny: 2,
                ask: 0,
                watch: 0,
            },
            last_id: 20,
        }));
        for (n, d) in [(1, "allow"), (2, "deny"), (3, "ask"), (4, "watch")] {
            w.apply(Update::Streamed {
                id: Some(20 + u64::from(n)),
                decision: dec(n, d),
            });
        }
        w
    }

    #[test]
    fn the_screen_shows_counts_approvals_and_the_feed_newest_first() {
        let b = render(&live(), 120, 20);
        let screen = text(&b).join("\n");
        for want in [
            "rampart watch",
            "pid 4242 · policy generation 7",
            "allow 12   deny 3   ask 1   watch 1   pending 2   since the daemon started 16m ago",
            "Pending approvals (2)",
            "▶ 1a2b3c4d  12s  codex      touch /tmp/marker  [ask-touch] touching needs a human",
            "99ff00aa",
            "01:02:02 deny  codex      /usr/bin/cmd2  [pol-deny] msg 2",
            "q quit",
        ] {
            assert!(screen.contains(want), "{want:?} not on screen:\n{screen}");
        }
        let (_, y4) = find(&b, "cmd4").unwrap();
        let (_, y1) = find(&b, "cmd1").unwrap();
        assert!(y4 < y1, "newest first:\n{screen}");
    }

    #[test]
    fn the_whole_screen_as_a_golden_file() {
        let mut w = live();
        w.key(Key::Char('f'), 10);
        insta::assert_snapshot!(text(&render(&w, 100, 16)).join("\n"));
    }

    #[test]
    fn decisions_are_coloured_by_kind() {
        let b = render(&live(), 120, 20);
        for (needle, want) in [
            ("deny  codex", Color::Red),
            ("ask   codex", Color::Yellow),
            ("watch codex", Color::Magenta),
            ("allow codex", Color::Green),
        ] {
            let (x, y) = find(&b, needle).unwrap_or_else(|| panic!("{needle}"));
            assert_eq!(b[(x, y)].fg, want, "{needle}");
        }
        let (x, y) = find(&b, "/usr/bin/cmd2").unwrap();
        assert_eq!(b[(x, y)].fg, Color::Red, "a denied command is red too");
    }

    #[test]
    fn the_selected_approval_is_highlighted() {
        let mut w = live();
        w.key(Key::Down, 10);
        let b = render(&w, 120, 20);
        let (x, y) = find(&b, "99ff00aa").unwrap();
        assert!(b[(x, y)].modifier.contains(Modifier::REVERSED));
        assert_eq!(b[(x - 2, y)].symbol(), "▶");
        let (x, y) = find(&b, "1a2b3c4d").unwrap();
        assert!(!b[(x, y)].modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn without_a_daemon_the_screen_says_approvals_are_unavailable() {
        let mut w = live();
        w.apply(Update::Disconnected);
        let screen = text(&render(&w, 120, 20)).join("\n");
        assert!(screen.contains(
            "approvals unavailable — rampart serve is not running · following the audit files"
        ));
        assert!(
            screen.contains("allow 1   deny 1   ask 1   watch 1   pending -   seen by this view"),
            "without the daemon, what this view saw:\n{screen}"
        );
        assert!(!screen.contains("1a2b3c4d"));
        assert!(screen.contains("/usr/bin/cmd4"), "the feed stays");
    }

    #[test]
    fn filters_pause_and_notes_show_in_the_titles_and_footer() {
        let mut w = live();
        w.key(Key::Char('f'), 10);
        w.key(Key::Char('p'), 10);
        w.apply(Update::Decision(dec(5, "deny")));
        let screen = text(&render(&w, 120, 20)).join("\n");
        assert!(
            screen.contains("[decision=deny] PAUSED (1 new)"),
            "{screen}"
        );
        assert!(screen.contains("/usr/bin/cmd2"));
        assert!(!screen.contains("/usr/bin/cmd5"), "held while paused");
        assert!(!screen.contains("/usr/bin/cmd1"), "filtered out");
        w.key(Key::Char('/'), 10);
        w.key(Key::Char('c'), 10);
        let screen = text(&render(&w, 120, 20)).join("\n");
        assert!(screen.contains("agent filter: c▏"), "{screen}");
        w.key(Key::Esc, 10);
        w.apply(Update::Disconnected);
        w.key(Key::Char('a'), 10);
        let last = text(&render(&w, 120, 20)).pop().unwrap();
        assert!(last.starts_with("approvals unavailable"), "{last}");
    }

    #[test]
    fn a_long_approval_list_scrolls_to_keep_the_selection_in_view() {
        let mut w = live();
        for i in 0..10 {
            w.apply(Update::ApprovalCreated(Approval {
                id: format!("id{i:06}"),
                command: format!("c{i}"),
                ..Approval::default()
            }));
        }
        for _ in 0..11 {
            w.key(Key::Down, 10);
        }
        let screen = text(&render(&w, 120, 30)).join("\n");
        assert!(screen.contains("▶ id000009"), "{screen}");
        assert!(!screen.contains("1a2b3c4d"));
    }

    #[test]
    fn control_characters_in_a_command_do_not_reach_the_terminal() {
        let mut w = Watch::default();
        w.push(Decision {
            target: "echo \x1b[2Jgotcha".into(),
            ..dec(1, "deny")
        });
        let screen = text(&render(&w, 80, 12)).join("\n");
        assert!(screen.contains("echo ?[2Jgotcha"), "{screen}");
    }

    #[test]
    fn a_tiny_terminal_does_not_panic() {
        for (wd, ht) in [(1, 1), (10, 3), (20, 8)] {
            render(&live(), wd, ht);
        }
    }
}
