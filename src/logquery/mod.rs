//! Tidewatch's log query language, and the LogQL subset Grafana's Loki data source sends
//! ([`logql`]). Pure: a query is parsed into an [`Expr`], which matches records and says
//! which blocks cannot hold a match ([`Expr::block_hints`]).
//!
//! ```text
//! level:error service:api host:web-* "connection refused" -debug status>=500 user.id:42
//! (service:api OR service:web) NOT path:/healthz  level>=warn  trace_id:*
//! ```
//! Terms are ANDed unless `OR` joins them; `-` or `NOT` negates; parentheses group. A bare
//! word matches a word of the message, ignoring case (`refused` matches "Connection
//! REFUSED"); `*` and `?` are wildcards within a word; a quoted phrase matches its words
//! in sequence. `name:value` matches `level` (any alias: `level:warning`), `service`,
//! `host`, a stream label or a field, exactly (`*`/`?` wildcards allowed, `name:*` means
//! present); `name>=500` (`>`, `>=`, `<`, `<=`, also written `name:>=500`) compares
//! numerically (levels by severity: `level>=warn`).

pub mod logql;

use std::collections::BTreeMap;

use crate::domain::logs::{for_each_token, pair_hash, scalar_text, token_hash, Level};

/// Longest query accepted (bytes).
pub const MAX_QUERY_BYTES: usize = 4096;
/// Deepest nesting of parentheses and negations.
pub const MAX_DEPTH: usize = 32;
/// Most terms in one query.
pub const MAX_TERMS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct QueryError {
    pub position: usize,
    pub message: String,
}

fn error<T>(position: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        position,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Matches every record (the empty query).
    All,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A word of the message, lower-cased; wildcards when `pattern`.
    Word { word: String, pattern: bool },
    /// Words in sequence, lower-cased.
    Phrase(Vec<String>),
    /// `name:value`, exact or with wildcards.
    Field {
        name: String,
        value: String,
        pattern: bool,
    },
    /// `name:*`.
    Present(String),
    /// `name>=500`.
    Compare {
        name: String,
        op: CompareOp,
        number: f64,
    },
    /// `level:error`.
    Level(Level),
    /// `level>=warn`.
    LevelCompare { op: CompareOp, level: Level },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CompareOp {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CompareOp::Lt => left < right,
            CompareOp::Le => left <= right,
            CompareOp::Gt => left > right,
            CompareOp::Ge => left >= right,
            CompareOp::Eq => left == right,
            CompareOp::Ne => left != right,
        }
    }
}

/// What a record offers a query. Implemented over a decoded block's columns, so matching
/// reads only the columns a query needs.
pub trait RecordView {
    fn level(&self) -> Level;
    fn service(&self) -> &str;
    fn host(&self) -> &str;
    fn message(&self) -> &str;
    fn labels(&self) -> &BTreeMap<String, String>;
    fn fields(&self) -> &BTreeMap<String, serde_json::Value>;

    fn label(&self, name: &str) -> Option<&str> {
        self.labels().get(name).map(String::as_str)
    }

    fn field(&self, name: &str) -> Option<&serde_json::Value> {
        self.fields().get(name)
    }
}

/// A record's value of one name as text: the built-in `level`, `service`, `host`, then a
/// stream label, then a field (strings as they are, other JSON as JSON text). `None`
/// when the record has no such value (or an empty service or host).
pub fn named_value(record: &dyn RecordView, name: &str) -> Option<String> {
    match name {
        "level" => Some(record.level().as_str().to_owned()),
        "service" => Some(record.service().to_owned()).filter(|s| !s.is_empty()),
        "host" => Some(record.host().to_owned()).filter(|s| !s.is_empty()),
        _ => record.label(name).map(str::to_owned).or_else(|| {
            record.field(name).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        }),
    }
}

/// A record's group for a log rule: each of `names` the record has, with its value.
pub fn group_of(record: &dyn RecordView, names: &[String]) -> BTreeMap<String, String> {
    names
        .iter()
        .filter_map(|name| named_value(record, name).map(|value| (name.clone(), value)))
        .collect()
}

/// A query a read can run: Tidewatch's language ([`Expr`]) or LogQL ([`logql::LogQuery`]).
pub trait RecordFilter: Send + Sync {
    fn matches(&self, record: &dyn RecordView) -> bool;
    fn block_hints(&self) -> BlockHints;
}

impl RecordFilter for Expr {
    fn matches(&self, record: &dyn RecordView) -> bool {
        Expr::matches(self, record)
    }

    fn block_hints(&self) -> BlockHints {
        Expr::block_hints(self)
    }
}

/// What a search must read and may skip, derived from the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHints {
    /// Hashes every matching record's block must hold (all of them).
    pub required: Vec<u64>,
    /// Levels a match may have (bit per level code).
    pub level_mask: u8,
    pub needs_streams: bool,
    pub needs_messages: bool,
    pub needs_fields: bool,
}

pub const ALL_LEVELS: u8 = 0b11_1111;

impl Expr {
    /// Parses a query; the empty query matches everything.
    pub fn parse(text: &str) -> Result<Expr, QueryError> {
        if text.len() > MAX_QUERY_BYTES {
            return error(
                0,
                format!(
                    "the query is {} bytes; at most {MAX_QUERY_BYTES} are allowed",
                    text.len()
                ),
            );
        }
        let tokens = lex(text)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            terms: 0,
            end: text.len(),
        };
        if parser.tokens.is_empty() {
            return Ok(Expr::All);
        }
        let expr = parser.or(0)?;
        if let Some((position, token)) = parser.tokens.get(parser.at) {
            return error(*position, format!("unexpected {}", token.describe()));
        }
        Ok(expr)
    }

    pub fn matches(&self, record: &dyn RecordView) -> bool {
        match self {
            Expr::All => true,
            Expr::And(all) => all.iter().all(|e| e.matches(record)),
            Expr::Or(any) => any.iter().any(|e| e.matches(record)),
            Expr::Not(inner) => !inner.matches(record),
            Expr::Term(term) => term.matches(record),
        }
    }

    pub fn block_hints(&self) -> BlockHints {
        let mut hints = BlockHints {
            required: Vec::new(),
            level_mask: ALL_LEVELS,
            needs_streams: false,
            needs_messages: false,
            needs_fields: false,
        };
        self.collect_needs(&mut hints);
        hints.level_mask = self.level_mask();
        self.collect_required(&mut hints.required);
        hints
    }

    fn collect_needs(&self, hints: &mut BlockHints) {
        match self {
            Expr::All => {}
            Expr::And(list) | Expr::Or(list) => list.iter().for_each(|e| e.collect_needs(hints)),
            Expr::Not(inner) => inner.collect_needs(hints),
            Expr::Term(term) => match term {
                Term::Word { .. } | Term::Phrase(_) => hints.needs_messages = true,
                Term::Level(_) | Term::LevelCompare { .. } => {}
                Term::Field { name, .. } | Term::Present(name) | Term::Compare { name, .. } => {
                    match name.as_str() {
                        "service" | "host" => hints.needs_streams = true,
                        "message" | "msg" => hints.needs_messages = true,
                        _ => {
                            hints.needs_streams = true;
                            hints.needs_fields = true;
                        }
                    }
                }
            },
        }
    }

    /// Levels a matching record may have.
    fn level_mask(&self) -> u8 {
        match self {
            Expr::And(list) => list.iter().fold(ALL_LEVELS, |m, e| m & e.level_mask()),
            Expr::Or(list) => list.iter().fold(0, |m, e| m | e.level_mask()),
            Expr::Not(inner) => match inner.as_ref() {
                Expr::Term(Term::Level(_) | Term::LevelCompare { .. }) => {
                    ALL_LEVELS & !inner.level_mask()
                }
                _ => ALL_LEVELS,
            },
            Expr::Term(Term::Level(level)) => 1 << level.code(),
            Expr::Term(Term::LevelCompare { op, level }) => Level::ALL
                .iter()
                .filter(|l| op.holds(l.code() as f64, level.code() as f64))
                .fold(0, |m, l| m | (1 << l.code())),
            _ => ALL_LEVELS,
        }
    }

    /// Token and pair hashes every match must have (only under AND, never under OR/NOT).
    fn collect_required(&self, out: &mut Vec<u64>) {
        match self {
            Expr::And(list) => list.iter().for_each(|e| e.collect_required(out)),
            Expr::Term(Term::Word {
                word,
                pattern: false,
            }) => for_each_token(word, |t| out.push(token_hash(t))),
            Expr::Term(Term::Phrase(words)) => {
                words.iter().for_each(|w| out.push(token_hash(w)));
            }
            Expr::Term(Term::Field {
                name,
                value,
                pattern: false,
            }) if !matches!(name.as_str(), "message" | "msg") => out.push(pair_hash(name, value)),
            _ => {}
        }
    }
}

impl Term {
    fn matches(&self, record: &dyn RecordView) -> bool {
        match self {
            Term::Word { word, pattern } => {
                let mut found = false;
                for_each_token(record.message(), |t| {
                    if !found {
                        found = if *pattern {
                            wildcard_match(word, &t.to_lowercase())
                        } else {
                            t.len() == word.len() && t.eq_ignore_ascii_case(word)
                                || (!t.is_ascii() && t.to_lowercase() == *word)
                        };
                    }
                });
                found
            }
            Term::Phrase(words) => phrase_match(record.message(), words),
            Term::Field {
                name,
                value,
                pattern,
            } => {
                let matches_text = |text: &str| {
                    if *pattern {
                        wildcard_match(value, text)
                    } else {
                        text == value
                    }
                };
                match name.as_str() {
                    "service" => matches_text(record.service()),
                    "host" => matches_text(record.host()),
                    "message" | "msg" => {
                        let words: Vec<String> = split_words(value);
                        phrase_match(record.message(), &words)
                    }
                    _ => {
                        if let Some(label) = record.label(name) {
                            matches_text(label)
                        } else {
                            match record.field(name) {
                                Some(serde_json::Value::Array(items)) => items
                                    .iter()
                                    .filter_map(scalar_text)
                                    .any(|t| matches_text(&t)),
                                Some(v) => scalar_text(v).is_some_and(|t| matches_text(&t)),
                                None => false,
                            }
                        }
                    }
                }
            }
            Term::Present(name) => match name.as_str() {
                "service" => !record.service().is_empty(),
                "host" => !record.host().is_empty(),
                _ => record.label(name).is_some() || record.field(name).is_some(),
            },
            Term::Compare { name, op, number } => {
                let value = match name.as_str() {
                    "service" => record.service().parse::<f64>().ok(),
                    "host" => record.host().parse::<f64>().ok(),
                    _ => match record.label(name) {
                        Some(label) => label.parse::<f64>().ok(),
                        None => record.field(name).and_then(number_of),
                    },
                };
                value.is_some_and(|v| op.holds(v, *number))
            }
            Term::Level(level) => record.level() == *level,
            Term::LevelCompare { op, level } => {
                op.holds(record.level().code() as f64, level.code() as f64)
            }
        }
    }
}

/// A JSON value as a number: numbers, and strings that read as one (logfmt's `status=502`).
pub fn number_of(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        serde_json::Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for_each_token(text, |t| words.push(t.to_lowercase()));
    words
}

/// Whether `words` occur in sequence among the words of `message`.
fn phrase_match(message: &str, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let mut tokens: Vec<&str> = Vec::new();
    for_each_token(message, |t| tokens.push(t));
    tokens.windows(words.len()).any(|window| {
        window
            .iter()
            .zip(words)
            .all(|(t, w)| t.eq_ignore_ascii_case(w) || (!t.is_ascii() && t.to_lowercase() == *w))
    })
}

/// `*` any run, `?` one character; everything else literal.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Not,
    And,
    Or,
    /// `-` directly before a term.
    Minus,
    Quoted(String),
    /// A bare run of characters (may hold `name:value`, `name>=5`, `name:"…"`).
    Bare(String),
    /// `name:"quoted value"`.
    FieldQuoted(String, String),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::Not => "NOT".into(),
            Token::And => "AND".into(),
            Token::Or => "OR".into(),
            Token::Minus => "'-'".into(),
            Token::Quoted(q) => format!("\"{q}\""),
            Token::Bare(b) => format!("'{b}'"),
            Token::FieldQuoted(n, v) => format!("{n}:\"{v}\""),
        }
    }
}

fn read_quoted(chars: &[(usize, char)], mut i: usize) -> Result<(String, usize), QueryError> {
    let start = chars[i].0;
    i += 1;
    let mut text = String::new();
    while i < chars.len() {
        match chars[i].1 {
            '\\' if i + 1 < chars.len() => {
                text.push(chars[i + 1].1);
                i += 2;
            }
            '"' => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    error(start, "unterminated quote")
}

fn lex(text: &str) -> Result<Vec<(usize, Token)>, QueryError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (position, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push((position, Token::Open));
                i += 1;
            }
            ')' => {
                tokens.push((position, Token::Close));
                i += 1;
            }
            '"' => {
                let (quoted, next) = read_quoted(&chars, i)?;
                tokens.push((position, Token::Quoted(quoted)));
                i = next;
            }
            '-' if chars.get(i + 1).is_some_and(|(_, n)| !n.is_whitespace()) => {
                tokens.push((position, Token::Minus));
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].1.is_whitespace()
                    && !matches!(chars[i].1, '(' | ')' | '"')
                {
                    i += 1;
                }
                let end = chars.get(i).map_or(text.len(), |c| c.0);
                let word = &text[position..end];
                // `name:"quoted value"`
                if i < chars.len() && chars[i].1 == '"' && word.ends_with(':') && word.len() > 1 {
                    let (quoted, next) = read_quoted(&chars, i)?;
                    tokens.push((
                        position,
                        Token::FieldQuoted(word[..word.len() - 1].to_owned(), quoted),
                    ));
                    i = next;
                    continue;
                }
                let _ = start;
                tokens.push((
                    position,
                    match word {
                        "AND" => Token::And,
                        "OR" => Token::Or,
                        "NOT" => Token::Not,
                        _ => Token::Bare(word.to_owned()),
                    },
                ));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    terms: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut any = vec![self.and(depth)?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            any.push(self.and(depth)?);
        }
        Ok(if any.len() == 1 {
            any.pop().expect("one element")
        } else {
            Expr::Or(any)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut all = vec![self.unary(depth)?];
        loop {
            match self.peek() {
                None | Some(Token::Or) | Some(Token::Close) => break,
                Some(Token::And) => {
                    self.at += 1;
                    all.push(self.unary(depth)?);
                }
                Some(_) => all.push(self.unary(depth)?),
            }
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one element")
        } else {
            Expr::And(all)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if depth >= MAX_DEPTH {
            return error(self.position(), format!("nested deeper than {MAX_DEPTH}"));
        }
        let position = self.position();
        let Some((_, token)) = self.tokens.get(self.at).cloned() else {
            return error(position, "a term is missing at the end");
        };
        self.at += 1;
        match token {
            Token::Not | Token::Minus => Ok(Expr::Not(Box::new(self.unary(depth + 1)?))),
            Token::Open => {
                let inner = self.or(depth + 1)?;
                if self.peek() != Some(&Token::Close) {
                    return error(self.position(), "')' expected");
                }
                self.at += 1;
                Ok(inner)
            }
            Token::Quoted(text) => {
                self.count_term(position)?;
                let words = split_words(&text);
                if words.is_empty() {
                    return error(position, "an empty phrase");
                }
                Ok(Expr::Term(if words.len() == 1 {
                    Term::Word {
                        word: words.into_iter().next().expect("one word"),
                        pattern: false,
                    }
                } else {
                    Term::Phrase(words)
                }))
            }
            Token::FieldQuoted(name, value) => {
                self.count_term(position)?;
                field_term(&name, &value, false, position).map(Expr::Term)
            }
            Token::Bare(word) => {
                self.count_term(position)?;
                bare_term(&word, position).map(Expr::Term)
            }
            other => error(position, format!("unexpected {}", other.describe())),
        }
    }

    fn count_term(&mut self, position: usize) -> Result<(), QueryError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return error(position, format!("more than {MAX_TERMS} terms"));
        }
        Ok(())
    }
}

fn bare_term(word: &str, position: usize) -> Result<Term, QueryError> {
    // `name>=5`, `name<3`, …
    for (symbol, op) in [
        (">=", CompareOp::Ge),
        ("<=", CompareOp::Le),
        (">", CompareOp::Gt),
        ("<", CompareOp::Lt),
    ] {
        if let Some((name, number)) = word.split_once(symbol) {
            let name = name.strip_suffix(':').unwrap_or(name);
            if !name.is_empty() && !name.contains(':') {
                return compare_term(name, op, number, position);
            }
        }
    }
    if let Some((name, value)) = word.split_once(':') {
        if name.is_empty() {
            return error(position, format!("'{word}' has no field name before ':'"));
        }
        if value.is_empty() {
            return error(position, format!("'{name}:' has no value"));
        }
        return field_term(name, value, true, position);
    }
    let lower = word.to_lowercase();
    let pattern = lower.contains(['*', '?']);
    if !pattern {
        let words = split_words(&lower);
        match words.len() {
            0 => {
                return error(
                    position,
                    format!("'{word}' has no letters or digits to search for"),
                )
            }
            1 => {}
            _ => return Ok(Term::Phrase(words)),
        }
        return Ok(Term::Word {
            word: words.into_iter().next().expect("one word"),
            pattern: false,
        });
    }
    Ok(Term::Word {
        word: lower,
        pattern: true,
    })
}

fn compare_term(
    name: &str,
    op: CompareOp,
    value: &str,
    position: usize,
) -> Result<Term, QueryError> {
    if name == "level" {
        let Some(level) = Level::parse_alias(value) else {
            return error(
                position,
                format!("'{value}' is not a level (trace, debug, info, warn, error, fatal)"),
            );
        };
        return Ok(Term::LevelCompare { op, level });
    }
    let Some(number) = value.parse::<f64>().ok().filter(|n| n.is_finite()) else {
        return error(
            position,
            format!("'{value}' is not a number to compare {name} with"),
        );
    };
    Ok(Term::Compare {
        name: name.to_owned(),
        op,
        number,
    })
}

fn field_term(name: &str, value: &str, bare: bool, position: usize) -> Result<Term, QueryError> {
    if bare {
        for (symbol, op) in [
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
        ] {
            if let Some(number) = value.strip_prefix(symbol) {
                return compare_term(name, op, number, position);
            }
        }
        if value == "*" {
            return Ok(Term::Present(name.to_owned()));
        }
    }
    if name == "level" {
        return match Level::parse_alias(value) {
            Some(level) => Ok(Term::Level(level)),
            None => error(
                position,
                format!("'{value}' is not a level (trace, debug, info, warn, error, fatal)"),
            ),
        };
    }
    Ok(Term::Field {
        name: name.to_owned(),
        value: value.to_owned(),
        pattern: bare && value.contains(['*', '?']),
    })
}

impl RecordView for crate::domain::logs::LogRecord {
    fn level(&self) -> Level {
        self.level
    }
    fn service(&self) -> &str {
        &self.service
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn message(&self) -> &str {
        &self.message
    }
    fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
    fn fields(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.fields
    }
}

#[cfg(test)]
mod tests;
