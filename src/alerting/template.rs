//! Alert annotation templates rendered the way Prometheus renders them, so that rules
//! imported from Prometheus keep their texts byte for byte.
//!
//! Prometheus runs Go's `text/template` with `missingkey=zero` over
//! `{Labels, ExternalLabels, ExternalURL, Value}` and prepends
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! (`rules/alerting.go`). This module implements the part of that language that alert
//! texts use: no `define`/`template`/`block`, no method calls, no query functions.
//! Numbers are printed with Go's `fmt` rules because that is where imported texts would
//! otherwise drift (`1e+06`, `%!d(float64=0.5)`, `+Inf`).
//!
//! Everything is bounded, since templates come from tenants: text, nesting, output,
//! string values, `printf` widths and `range` iterations all have limits, and nothing
//! here panics.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};

const MAX_TEXT: usize = 64 * 1024;
const MAX_DEPTH: usize = 32;
const MAX_OUTPUT: usize = 64 * 1024;
/// Longer values could only be truncated away from the output, yet doubling one in a loop
/// would exhaust memory long before any output limit is reached.
const MAX_VALUE: usize = MAX_OUTPUT;
const MAX_RANGE_ITERATIONS: usize = 10_000;
const MAX_REGEX_CACHE: usize = 64;
const ROOT_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

/// The values a template sees.
#[derive(Debug, Clone, Copy)]
pub struct TemplateData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    /// The sample value; `$externalURL` renders empty, as Tidewatch has none to give.
    pub value: f64,
}

/// A template that failed to parse, with where (1-based line and column, in characters,
/// of the offending action or token in the user's text — not shifted by the variable
/// prelude Prometheus prepends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for TemplateError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    col: usize,
}

fn perr<T>(pos: Pos, message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError {
        line: pos.line,
        column: pos.col,
        message: message.into(),
    })
}

/// A parsed template; parse once per rule, render once per alert.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

/// A variable beyond Prometheus' own, for templates that are not annotations (a channel's
/// message template also sees `$annotations`, `$status`, …).
#[derive(Debug, Clone)]
pub enum ExtraVar<'a> {
    Text(String),
    Map(&'a BTreeMap<String, String>),
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Self::parse_with(text, &[])
    }

    /// Parses a template that may also use the variables `extra` names (`$status`, …).
    pub fn parse_with(text: &str, extra: &[&str]) -> Result<Template, TemplateError> {
        if text.len() > MAX_TEXT {
            return perr(
                Pos { line: 1, col: 1 },
                format!("template text exceeds {MAX_TEXT} bytes"),
            );
        }
        let toks = lex(text)?;
        let vars = ["$", "$labels", "$externalLabels", "$externalURL", "$value"];
        let mut p = Parser {
            toks,
            i: 0,
            vars: vars.iter().chain(extra).map(|v| (*v).to_owned()).collect(),
            depth: 0,
            range_depth: 0,
        };
        match p.list()? {
            (nodes, ListEnd::Eof) => Ok(Template { nodes }),
            (_, ListEnd::End(pos)) => perr(pos, "unexpected {{end}}"),
            (_, ListEnd::Else(pos)) => perr(pos, "unexpected {{else}}"),
        }
    }

    /// Never fails: like Prometheus, a runtime error replaces the whole text with
    /// `<error expanding template: …>`, because a broken annotation must not stop the alert.
    pub fn render(&self, data: &TemplateData<'_>) -> String {
        self.render_with(data, &[])
    }

    /// Renders with the values of the extra variables the template was parsed with.
    pub fn render_with<'a>(
        &self,
        data: &TemplateData<'a>,
        extra: &[(&str, ExtraVar<'a>)],
    ) -> String {
        let root = Value::Root(data.labels, data.external_labels, data.value);
        let mut vars = vec![("$".to_string(), root.clone())];
        vars.push(("$labels".into(), Value::Map(data.labels)));
        vars.push(("$externalLabels".into(), Value::Map(data.external_labels)));
        vars.push(("$externalURL".into(), Value::Str(String::new())));
        vars.push(("$value".into(), Value::Float(data.value)));
        for (name, value) in extra {
            let value = match value {
                ExtraVar::Text(text) => Value::Str(text.clone()),
                ExtraVar::Map(map) => Value::Map(map),
            };
            vars.push(((*name).to_owned(), value));
        }
        let mut ex = Exec {
            vars,
            out: String::new(),
            iterations: 0,
            regexes: HashMap::new(),
        };
        match ex.walk(&self.nodes, &root) {
            Err(Stop::Err(pos, msg)) => {
                let mut s = format!(
                    "<error expanding template: line {}, column {}: {msg}>",
                    pos.line, pos.col
                );
                truncate(&mut s, MAX_OUTPUT);
                s
            }
            _ => ex.out,
        }
    }
}

/// Parse-and-render convenience.
pub fn expand(text: &str, data: &TemplateData<'_>) -> Result<String, TemplateError> {
    Ok(Template::parse(text)?.render(data))
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Open,
    Close,
    Ident(String),
    Field(String),
    Var(String),
    Dot,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
    /// No space before it: Go chains `.a.b` and `(x).y` only when nothing separates them.
    adjacent: bool,
}

struct Lexer<'s> {
    src: &'s str,
    off: usize,
    pos: Pos,
    toks: Vec<Token>,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Go's `%#U`, which its lexer errors use.
fn go_u(c: char) -> String {
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut lx = Lexer {
        src,
        off: 0,
        pos: Pos { line: 1, col: 1 },
        toks: Vec::new(),
    };
    let mut trim_next = false;
    loop {
        let rest = lx.rest();
        let found = rest.find("{{");
        let len = found.unwrap_or(rest.len());
        let mut text = rest.get(..len).unwrap_or("");
        let after = rest.get(len + 2..).unwrap_or("");
        let trim_left = found.is_some()
            && after
                .strip_prefix('-')
                .is_some_and(|a| a.starts_with(is_space));
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        if trim_left {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            lx.push(Tok::Text(text.to_string()), lx.pos, false);
        }
        lx.skip(len);
        if found.is_none() {
            break;
        }
        trim_next = lx.action(trim_left)?;
    }
    lx.push(Tok::Eof, lx.pos, false);
    Ok(lx.toks)
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        self.src.get(self.off..).unwrap_or("")
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.off += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }
    fn skip(&mut self, bytes: usize) {
        let end = self.off + bytes;
        while self.off < end && self.bump().is_some() {}
    }
    fn push(&mut self, tok: Tok, pos: Pos, adjacent: bool) {
        self.toks.push(Token { tok, pos, adjacent });
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'s str {
        let start = self.off;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        self.src.get(start..self.off).unwrap_or("")
    }

    /// Lexes one action from its `{{`; returns whether it ended with a trim marker.
    fn action(&mut self, trim_left: bool) -> Result<bool, TemplateError> {
        let open = self.pos;
        self.skip(if trim_left { 4 } else { 2 });
        if self.rest().starts_with("/*") {
            let Some(end) = self.rest().find("*/") else {
                return perr(open, "unclosed comment");
            };
            self.skip(end + 2);
            // Exactly `*/}}` or `*/ -}}`, as Go's atRightDelim demands.
            let rest = self.rest();
            if rest.starts_with("}}") {
                self.skip(2);
                return Ok(false);
            }
            let mut it = rest.chars();
            if it.next().is_some_and(is_space) && it.as_str().starts_with("-}}") {
                self.skip(4);
                return Ok(true);
            }
            return perr(open, "comment ends before closing delimiter");
        }
        self.push(Tok::Open, open, false);
        let mut adjacent = false;
        loop {
            let start = self.pos;
            let Some(c) = self.peek() else {
                return perr(open, "unclosed action");
            };
            if is_space(c) {
                self.take_while(is_space);
                if self.rest().starts_with("-}}") {
                    self.skip(3);
                    self.push(Tok::Close, start, false);
                    return Ok(true);
                }
                adjacent = false;
                continue;
            }
            if self.rest().starts_with("}}") {
                self.skip(2);
                self.push(Tok::Close, start, false);
                return Ok(false);
            }
            let next_is_digit = self
                .rest()
                .chars()
                .nth(1)
                .is_some_and(|d| d.is_ascii_digit());
            let tok = match c {
                '|' | '(' | ')' | ',' | '=' => {
                    self.bump();
                    match c {
                        '|' => Tok::Pipe,
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        ',' => Tok::Comma,
                        _ => Tok::Assign,
                    }
                }
                ':' => {
                    self.bump();
                    if self.bump() != Some('=') {
                        return perr(start, "expected :=");
                    }
                    Tok::Declare
                }
                '"' | '\'' => self.quoted(c, start)?,
                '`' => {
                    self.bump();
                    let Some(end) = self.rest().find('`') else {
                        return perr(start, "unterminated raw quoted string");
                    };
                    let s = self.rest().get(..end).unwrap_or("").replace('\r', "");
                    self.skip(end + 1);
                    Tok::Str(s)
                }
                '$' => {
                    self.bump();
                    let name = format!("${}", self.take_while(is_alnum));
                    self.terminator()?;
                    Tok::Var(name)
                }
                '.' if !next_is_digit => {
                    self.bump();
                    let name = self.take_while(is_alnum);
                    self.terminator()?;
                    if name.is_empty() {
                        Tok::Dot
                    } else {
                        Tok::Field(name.to_string())
                    }
                }
                '.' | '+' | '-' | '0'..='9' => self.number(start)?,
                c if is_alnum(c) => {
                    let word = self.take_while(is_alnum);
                    self.terminator()?;
                    match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        w => Tok::Ident(w.to_string()),
                    }
                }
                c => {
                    return perr(
                        start,
                        format!("unrecognized character in action: {}", go_u(c)),
                    )
                }
            };
            self.push(tok, start, adjacent);
            adjacent = true;
        }
    }

    fn terminator(&self) -> Result<(), TemplateError> {
        match self.peek() {
            None => Ok(()),
            Some(c) if is_space(c) || ".,|:()".contains(c) || self.rest().starts_with("}}") => {
                Ok(())
            }
            Some(c) => perr(self.pos, format!("bad character {}", go_u(c))),
        }
    }

    /// Go's `scanNumber`, then its typing: a literal with `.`/`e` is a float64, else an int.
    fn number(&mut self, start: Pos) -> Result<Tok, TemplateError> {
        let begin = self.off;
        let accept = |lx: &mut Self, set: &str| {
            lx.peek().is_some_and(|c| set.contains(c)) && lx.bump().is_some()
        };
        accept(self, "+-");
        let mut digits = "0123456789_";
        if accept(self, "0") {
            if accept(self, "xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if accept(self, "oO") {
                digits = "01234567_";
            } else if accept(self, "bB") {
                digits = "01_";
            }
        }
        self.take_while(|c| digits.contains(c));
        if accept(self, ".") {
            self.take_while(|c| digits.contains(c));
        }
        if digits.len() == 11 && accept(self, "eE") {
            accept(self, "+-");
            self.take_while(|c| c.is_ascii_digit() || c == '_');
        }
        accept(self, "i");
        let bad_tail = self.peek().is_some_and(is_alnum);
        if bad_tail {
            self.bump();
        }
        let text = self.src.get(begin..self.off).unwrap_or("");
        if bad_tail {
            return perr(start, format!("bad number syntax: {text:?}"));
        }
        let bad = || perr(start, format!("illegal number syntax: {text:?}"));
        let clean: String = text.chars().filter(|&c| c != '_').collect();
        let (neg, body) = match clean.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
        };
        let lower = body.to_ascii_lowercase();
        let (radix, ds) = if let Some(d) = lower.strip_prefix("0x") {
            (16, d)
        } else if let Some(d) = lower.strip_prefix("0o") {
            (8, d)
        } else if let Some(d) = lower.strip_prefix("0b") {
            (2, d)
        } else if let Some(d) = lower
            .strip_prefix('0')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        {
            (8, d)
        } else {
            (10, lower.as_str())
        };
        if radix == 10 && ds.contains(['.', 'e']) {
            return clean.parse::<f64>().map(Tok::Float).or_else(|_| bad());
        }
        if ds.is_empty() || ds.contains(['.', 'i']) {
            return bad();
        }
        match i128::from_str_radix(ds, radix) {
            Ok(v) => i64::try_from(if neg { -v } else { v })
                .map(Tok::Int)
                .or_else(|_| perr(start, format!("integer overflow: {text:?}"))),
            Err(_) if radix == 10 && ds.bytes().all(|b| b.is_ascii_digit()) => {
                perr(start, format!("integer overflow: {text:?}"))
            }
            Err(_) => bad(),
        }
    }

    /// A `"…"` string or `'…'` character constant, with Go's escapes.
    fn quoted(&mut self, q: char, start: Pos) -> Result<Tok, TemplateError> {
        let what = if q == '"' {
            "quoted string"
        } else {
            "character constant"
        };
        self.bump();
        let begin = self.off;
        loop {
            match self.bump() {
                None | Some('\n') => return perr(start, format!("unterminated {what}")),
                Some('\\') => {
                    if matches!(self.bump(), None | Some('\n')) {
                        return perr(start, format!("unterminated {what}"));
                    }
                }
                Some(c) if c == q => break,
                _ => {}
            }
        }
        let raw = self.src.get(begin..self.off - 1).unwrap_or("");
        let bad = || match q {
            '"' => perr(start, format!("invalid syntax in quoted string \"{raw}\"")),
            _ => perr(start, format!("malformed character constant: '{raw}'")),
        };
        let Some(pieces) = unescape(raw, q) else {
            return bad();
        };
        if q == '"' {
            let mut bytes = Vec::new();
            for p in pieces {
                match p {
                    Esc::Byte(b) => bytes.push(b),
                    Esc::Char(c) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            return Ok(Tok::Str(String::from_utf8_lossy(&bytes).into_owned()));
        }
        match pieces.as_slice() {
            [Esc::Byte(b)] => Ok(Tok::Int(i64::from(*b))),
            [Esc::Char(c)] => Ok(Tok::Int(i64::from(u32::from(*c)))),
            _ => bad(),
        }
    }
}

enum Esc {
    Byte(u8),
    Char(char),
}

/// `strconv.Unquote`'s escapes; `\x`/octal give raw bytes, as in Go.
fn unescape(raw: &str, q: char) -> Option<Vec<Esc>> {
    let mut out = Vec::new();
    let mut it = raw.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(Esc::Char(c));
            continue;
        }
        let e = it.next()?;
        let mut hex = |n: usize| -> Option<u32> {
            let s: String = it.by_ref().take(n).collect();
            if s.len() == n {
                u32::from_str_radix(&s, 16).ok()
            } else {
                None
            }
        };
        out.push(match e {
            'a' => Esc::Char('\x07'),
            'b' => Esc::Char('\x08'),
            'f' => Esc::Char('\x0c'),
            'n' => Esc::Char('\n'),
            'r' => Esc::Char('\r'),
            't' => Esc::Char('\t'),
            'v' => Esc::Char('\x0b'),
            '\\' => Esc::Char('\\'),
            c if c == q => Esc::Char(c),
            'x' => Esc::Byte(u8::try_from(hex(2)?).ok()?),
            'u' => Esc::Char(char::from_u32(hex(4)?)?),
            'U' => Esc::Char(char::from_u32(hex(8)?)?),
            '0'..='7' => {
                let rest: String = it.by_ref().take(2).collect();
                if rest.len() != 2 {
                    return None;
                }
                Esc::Byte(u8::try_from(u32::from_str_radix(&format!("{e}{rest}"), 8).ok()?).ok()?)
            }
            _ => return None,
        });
    }
    Some(out)
}

// ---------------------------------------------------------------- parser

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    /// `if`/`with` with their `else if`/`else with` chain kept flat, so a long chain costs
    /// no nesting depth.
    If {
        with: bool,
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
struct Cmd {
    pos: Pos,
    args: Vec<Operand>,
}

#[derive(Debug, Clone)]
struct Operand {
    pos: Pos,
    term: Term,
    fields: Vec<String>,
}

#[derive(Debug, Clone)]
enum Term {
    Func(Func),
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Var(String),
    Pipe(Box<Pipe>),
}

macro_rules! funcs {
    ($($name:literal => $variant:ident),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Func { $($variant),* }
        const FUNCS: &[(&str, Func)] = &[$(($name, Func::$variant)),*];
    };
}

funcs! {
    "and" => And, "or" => Or, "not" => Not, "len" => Len, "index" => Index,
    "print" => Print, "printf" => Printf, "println" => Println,
    "html" => Html, "js" => Js, "urlquery" => Urlquery,
    "eq" => Eq, "ne" => Ne, "lt" => Lt, "le" => Le, "gt" => Gt, "ge" => Ge,
    "humanize" => Humanize, "humanize1024" => Humanize1024, "humanizeDuration" => HumanizeDuration,
    "humanizePercentage" => HumanizePercentage, "humanizeTimestamp" => HumanizeTimestamp,
    "toUpper" => ToUpper, "toLower" => ToLower, "title" => Title,
    "reReplaceAll" => ReReplaceAll, "match" => Match, "safeHtml" => SafeHtml,
    "stripPort" => StripPort, "stripDomain" => StripDomain, "graphLink" => GraphLink,
    "tableLink" => TableLink, "urlQueryEscape" => UrlQueryEscape,
    "externalURL" => ExternalUrl, "pathPrefix" => PathPrefix,
}

/// Prometheus functions that need a query engine, time values or named templates. They
/// fail at parse time, so an imported rule is rejected when it is saved rather than
/// rendering an error in every notification.
const UNSUPPORTED: &[&str] = &[
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "tmpl",
    "toTime",
    "toDuration",
    "now",
    "parseDuration",
    "slice",
    "call",
];

impl Func {
    fn name(self) -> &'static str {
        FUNCS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

static EOF: Token = Token {
    tok: Tok::Eof,
    pos: Pos { line: 1, col: 1 },
    adjacent: false,
};

enum ListEnd {
    Eof,
    End(Pos),
    Else(Pos),
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Declared variables in scope, as Go's parser tracks them to reject undefined ones.
    vars: Vec<String>,
    depth: usize,
    range_depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.toks.get(self.i).unwrap_or(&EOF)
    }
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.i += 1;
        t
    }
    fn expect_close(&mut self, ctx: &str) -> Result<(), TemplateError> {
        let t = self.next();
        if t.tok == Tok::Close {
            Ok(())
        } else {
            perr(t.pos, format!("unexpected {} in {ctx}", describe(&t.tok)))
        }
    }
    fn enter(&mut self, pos: Pos) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            perr(
                pos,
                format!("template nesting too deep (limit {MAX_DEPTH})"),
            )
        } else {
            Ok(())
        }
    }

    fn list(&mut self) -> Result<(Vec<Node>, ListEnd), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => return Ok((nodes, ListEnd::Eof)),
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Open => {
                    let kw = match &self.peek().tok {
                        Tok::Ident(s) => s.clone(),
                        _ => String::new(),
                    };
                    let kpos = self.peek().pos;
                    match kw.as_str() {
                        "end" => {
                            self.next();
                            self.expect_close("end")?;
                            return Ok((nodes, ListEnd::End(t.pos)));
                        }
                        "else" => {
                            self.next();
                            return Ok((nodes, ListEnd::Else(t.pos)));
                        }
                        "if" | "with" | "range" => {
                            self.next();
                            nodes.push(self.control(&kw, t.pos)?);
                        }
                        "break" | "continue" => {
                            self.next();
                            if self.range_depth == 0 {
                                return perr(kpos, format!("{{{{{kw}}}}} outside {{{{range}}}}"));
                            }
                            self.expect_close(&kw)?;
                            nodes.push(if kw == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        "define" | "template" | "block" => {
                            return perr(kpos, format!("{{{{{kw}}}}} is not supported"))
                        }
                        _ => {
                            let p = self.pipeline("command", true)?;
                            self.expect_close("command")?;
                            nodes.push(Node::Action(p));
                        }
                    }
                }
                other => return perr(t.pos, format!("unexpected {}", describe(&other))),
            }
        }
    }

    fn control(&mut self, kind: &str, pos: Pos) -> Result<Node, TemplateError> {
        self.enter(pos)?;
        let mark = self.vars.len();
        let eof = || {
            perr(
                pos,
                format!("unexpected EOF: {{{{{kind}}}}} has no matching {{{{end}}}}"),
            )
        };
        let mut branches = Vec::new();
        let mut otherwise = Vec::new();
        loop {
            let pipe = self.pipeline(kind, true)?;
            self.expect_close(kind)?;
            self.range_depth += usize::from(kind == "range");
            let (body, end) = self.list()?;
            self.range_depth -= usize::from(kind == "range");
            branches.push((pipe, body));
            match end {
                ListEnd::Eof => return eof(),
                ListEnd::End(_) => break,
                ListEnd::Else(_)
                    if kind != "range" && self.peek().tok == Tok::Ident(kind.to_string()) =>
                {
                    self.next();
                }
                ListEnd::Else(_) => {
                    self.expect_close("else")?;
                    match self.list()? {
                        (l, ListEnd::End(_)) => otherwise = l,
                        (_, ListEnd::Else(p)) => {
                            return perr(p, "expected {{end}}; found {{else}}")
                        }
                        (_, ListEnd::Eof) => return eof(),
                    }
                    break;
                }
            }
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        if kind == "range" {
            let (pipe, body) = branches.pop().ok_or_else(|| TemplateError {
                line: pos.line,
                column: pos.col,
                message: "missing range pipeline".into(),
            })?;
            return Ok(Node::Range {
                pipe,
                body,
                otherwise,
            });
        }
        Ok(Node::If {
            with: kind == "with",
            branches,
            otherwise,
        })
    }

    fn pipeline(&mut self, ctx: &str, decl_ok: bool) -> Result<Pipe, TemplateError> {
        let mut pipe = Pipe {
            decl: Vec::new(),
            assign: false,
            cmds: Vec::new(),
        };
        let after = |p: &Self, n: usize| p.toks.get(p.i + n).map(|t| t.tok.clone());
        while let (true, Tok::Var(name)) = (decl_ok, self.peek().tok.clone()) {
            let vpos = self.peek().pos;
            match after(self, 1) {
                Some(Tok::Declare | Tok::Assign) => {
                    pipe.assign = after(self, 1) == Some(Tok::Assign);
                    if pipe.assign && !self.vars.contains(&name) {
                        return perr(vpos, format!("undefined variable {name:?}"));
                    }
                    self.next();
                    self.next();
                    pipe.decl.push(name);
                    break;
                }
                Some(Tok::Comma) if ctx == "range" && pipe.decl.is_empty() => {
                    if !matches!(after(self, 2), Some(Tok::Var(_))) {
                        return perr(vpos, "range can only initialize variables");
                    }
                    self.next();
                    self.next();
                    pipe.decl.push(name);
                }
                Some(Tok::Comma) => return perr(vpos, format!("too many declarations in {ctx}")),
                _ if !pipe.decl.is_empty() => {
                    return perr(vpos, "range can only initialize variables")
                }
                _ => break,
            }
        }
        if !pipe.assign {
            self.vars.extend(pipe.decl.iter().cloned());
        }
        loop {
            pipe.cmds.push(self.command(ctx)?);
            if self.peek().tok != Tok::Pipe {
                break;
            }
            self.next();
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(Operand { term, fields, pos }) = c.args.first() {
                if fields.is_empty()
                    && !matches!(term, Term::Func(_) | Term::Var(_) | Term::Pipe(_))
                {
                    return perr(
                        *pos,
                        format!("non executable command in pipeline stage {}", i + 1),
                    );
                }
            }
        }
        Ok(pipe)
    }

    fn command(&mut self, ctx: &str) -> Result<Cmd, TemplateError> {
        let pos = self.peek().pos;
        let mut args = Vec::new();
        loop {
            let t = self.peek();
            match t.tok {
                Tok::Pipe | Tok::Close | Tok::RParen | Tok::Eof => break,
                _ if !args.is_empty() && t.adjacent => {
                    return perr(t.pos, format!("unexpected {} in operand", describe(&t.tok)))
                }
                _ => args.push(self.operand()?),
            }
        }
        if args.is_empty() {
            return perr(pos, format!("missing value for {ctx}"));
        }
        Ok(Cmd { pos, args })
    }

    fn operand(&mut self) -> Result<Operand, TemplateError> {
        let t = self.next();
        let mut fields = Vec::new();
        let term = match t.tok {
            Tok::Ident(name) => match name.as_str() {
                "nil" => Term::Nil,
                "if" | "else" | "end" | "range" | "with" | "break" | "continue" | "define"
                | "template" | "block" => {
                    return perr(t.pos, format!("unexpected keyword {name:?} in operand"))
                }
                _ => match FUNCS.iter().find(|(n, _)| *n == name) {
                    Some((_, f)) => Term::Func(*f),
                    None if UNSUPPORTED.contains(&name.as_str()) => {
                        return perr(t.pos, format!("function {name:?} is not supported"))
                    }
                    None => return perr(t.pos, format!("function {name:?} not defined")),
                },
            },
            Tok::Dot => Term::Dot,
            Tok::Field(f) => {
                fields.push(f);
                Term::Dot
            }
            Tok::Var(v) if self.vars.contains(&v) => Term::Var(v),
            Tok::Var(v) => return perr(t.pos, format!("undefined variable {v:?}")),
            Tok::Str(s) => Term::Str(s),
            Tok::Int(i) => Term::Int(i),
            Tok::Float(f) => Term::Float(f),
            Tok::Bool(b) => Term::Bool(b),
            Tok::LParen => {
                self.enter(t.pos)?;
                let p = self.pipeline("parenthesized pipeline", false)?;
                if self.next().tok != Tok::RParen {
                    return perr(t.pos, "unclosed left paren");
                }
                self.depth -= 1;
                Term::Pipe(Box::new(p))
            }
            Tok::RParen => return perr(t.pos, "unexpected right paren"),
            other => return perr(t.pos, format!("unexpected {} in operand", describe(&other))),
        };
        while matches!(self.peek().tok, Tok::Field(_)) && self.peek().adjacent {
            let chainable =
                !fields.is_empty() || matches!(term, Term::Var(_) | Term::Pipe(_) | Term::Func(_));
            if !chainable {
                return perr(self.peek().pos, "unexpected . after term");
            }
            if let Tok::Field(f) = self.next().tok {
                fields.push(f);
            }
        }
        Ok(Operand {
            pos: t.pos,
            term,
            fields,
        })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Close => "\"}}\"".into(),
        Tok::Eof => "EOF".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Ident(s) | Tok::Field(s) | Tok::Var(s) | Tok::Str(s) | Tok::Text(s) => {
            format!("{s:?}")
        }
        Tok::Int(i) => format!("\"{i}\""),
        Tok::Float(f) => format!("\"{}\"", go_g(*f, None)),
        Tok::Bool(b) => format!("\"{b}\""),
        Tok::Open => "\"{{\"".into(),
        Tok::Dot => "\".\"".into(),
    }
}

// ---------------------------------------------------------------- values

#[derive(Debug, Clone)]
enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Map(&'a BTreeMap<String, String>),
    /// The data struct Prometheus passes as `.`.
    Root(
        &'a BTreeMap<String, String>,
        &'a BTreeMap<String, String>,
        f64,
    ),
}

impl Value<'_> {
    /// Go's `%T`, which its error messages and `%!verb(type=value)` use.
    fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(_) => "map[string]string",
            Value::Root(..) => ROOT_TYPE,
        }
    }
    /// Go's `if` truth: empty and zero values are false.
    fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Root(..) => true,
        }
    }
    fn v(&self) -> String {
        let mut s = String::new();
        fmt_arg(&mut s, self, 'v', &Spec::default());
        s
    }
}

/// Everything that unwinds the walk: `?` carries `break`/`continue` up to their `range`
/// and a full output buffer or an error up to `render`.
enum Stop {
    Err(Pos, String),
    /// The output limit was reached; what was written so far is the (truncated) result.
    Full,
    Break,
    Continue,
}

struct Exec<'a> {
    /// A stack like Go's: blocks truncate it back to where they started.
    vars: Vec<(String, Value<'a>)>,
    out: String,
    /// Across the whole render, so nested loops cannot multiply the limit.
    iterations: usize,
    /// Prometheus compiles per call; a loop over labels would recompile the same pattern.
    regexes: HashMap<String, regex::Regex>,
}

impl<'a> Exec<'a> {
    fn write(&mut self, s: &str) -> Result<(), Stop> {
        self.out.push_str(s);
        if self.out.len() > MAX_OUTPUT {
            truncate(&mut self.out, MAX_OUTPUT);
            return Err(Stop::Full);
        }
        Ok(())
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value<'a>) -> Result<(), Stop> {
        for node in nodes {
            match node {
                Node::Text(s) => self.write(s)?,
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        // Go prints a missing value as "<no value>", unlike fmt's "<nil>".
                        let s = if matches!(v, Value::Nil) {
                            "<no value>".to_string()
                        } else {
                            v.v()
                        };
                        self.write(&s)?;
                    }
                }
                Node::If {
                    with,
                    branches,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let mut taken = None;
                    for (pipe, body) in branches {
                        let v = self.pipe(pipe, dot)?;
                        if v.truth() {
                            taken = Some(if *with {
                                self.walk(body, &v)
                            } else {
                                self.walk(body, dot)
                            });
                            break;
                        }
                    }
                    let r = taken.unwrap_or_else(|| self.walk(otherwise, dot));
                    self.vars.truncate(mark);
                    r?;
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => self.range(pipe, body, otherwise, dot)?,
                Node::Break => return Err(Stop::Break),
                Node::Continue => return Err(Stop::Continue),
            }
        }
        Ok(())
    }

    fn range(
        &mut self,
        pipe: &Pipe,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value<'a>,
    ) -> Result<(), Stop> {
        let pos = pipe.cmds.first().map_or(Pos { line: 1, col: 1 }, |c| c.pos);
        let mark0 = self.vars.len();
        let v = self.cmds(pipe, dot)?;
        if !pipe.assign {
            self.vars
                .extend(pipe.decl.iter().map(|n| (n.clone(), Value::Nil)));
        }
        let mark = self.vars.len();
        let mut any = false;
        let mut step = |ex: &mut Self, key: Value<'a>, elem: Value<'a>| -> Result<bool, Stop> {
            any = true;
            ex.iterations += 1;
            if ex.iterations > MAX_RANGE_ITERATIONS {
                return Err(Stop::Err(
                    pos,
                    format!("range iteration limit ({MAX_RANGE_ITERATIONS}) exceeded"),
                ));
            }
            let vals = if pipe.decl.len() == 2 {
                vec![key, elem.clone()]
            } else {
                vec![elem.clone()]
            };
            for (name, val) in pipe.decl.iter().zip(vals) {
                ex.set_var(name, val, pos)?;
            }
            let r = ex.walk(body, &elem);
            ex.vars.truncate(mark);
            match r {
                Err(Stop::Break) => Ok(false),
                Ok(()) | Err(Stop::Continue) => Ok(true),
                Err(e) => Err(e),
            }
        };
        match v {
            Value::Map(m) => {
                for (k, e) in m {
                    if !step(self, Value::Str(k.clone()), Value::Str(e.clone()))? {
                        break;
                    }
                }
            }
            Value::Int(n) if pipe.decl.len() > 1 => {
                let msg = format!("can't use {n} to iterate over more than one variable");
                return Err(Stop::Err(pos, msg));
            }
            // Go 1.22+: ranging over an integer n yields 0..n.
            Value::Int(n) => {
                for i in 0..n {
                    if !step(self, Value::Int(i), Value::Int(i))? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                return Err(Stop::Err(
                    pos,
                    format!("range can't iterate over {}", other.v()),
                ))
            }
        }
        let r = if any {
            Ok(())
        } else {
            self.walk(otherwise, dot)
        };
        self.vars.truncate(mark0);
        r
    }

    fn set_var(&mut self, name: &str, v: Value<'a>, pos: Pos) -> Result<(), Stop> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(Stop::Err(pos, format!("undefined variable: {name}"))),
        }
    }

    fn cmds(&mut self, pipe: &Pipe, dot: &Value<'a>) -> Result<Value<'a>, Stop> {
        let mut last = None;
        for cmd in &pipe.cmds {
            last = Some(self.cmd(cmd, dot, last)?);
        }
        Ok(last.unwrap_or(Value::Nil))
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &Value<'a>) -> Result<Value<'a>, Stop> {
        let v = self.cmds(pipe, dot)?;
        for name in &pipe.decl {
            if pipe.assign {
                let pos = pipe.cmds.first().map_or(Pos { line: 1, col: 1 }, |c| c.pos);
                self.set_var(name, v.clone(), pos)?;
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn cmd(
        &mut self,
        cmd: &Cmd,
        dot: &Value<'a>,
        last: Option<Value<'a>>,
    ) -> Result<Value<'a>, Stop> {
        let Some((head, rest)) = cmd.args.split_first() else {
            return Ok(Value::Nil);
        };
        if let Term::Func(f) = head.term {
            let v = self.call(f, rest, last, dot, head.pos)?;
            return field_chain(v, &head.fields, head.pos);
        }
        if !rest.is_empty() || last.is_some() {
            let msg = match head.fields.last() {
                Some(field) => format!("{field} is not a method but has arguments"),
                None => format!(
                    "can't give argument to non-function {}",
                    describe_operand(head)
                ),
            };
            return Err(Stop::Err(head.pos, msg));
        }
        if matches!(head.term, Term::Nil) {
            return Err(Stop::Err(head.pos, "nil is not a command".into()));
        }
        self.operand(head, dot)
    }

    fn operand(&mut self, op: &Operand, dot: &Value<'a>) -> Result<Value<'a>, Stop> {
        let v = match &op.term {
            Term::Func(f) => self.call(*f, &[], None, dot, op.pos)?,
            Term::Dot => dot.clone(),
            Term::Nil => Value::Nil,
            Term::Bool(b) => Value::Bool(*b),
            Term::Int(i) => Value::Int(*i),
            Term::Float(f) => Value::Float(*f),
            Term::Str(s) => Value::Str(s.clone()),
            Term::Var(name) => match self.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => v.clone(),
                None => return Err(Stop::Err(op.pos, format!("undefined variable: {name}"))),
            },
            Term::Pipe(p) => self.cmds(p, dot)?,
        };
        field_chain(v, &op.fields, op.pos)
    }

    fn call(
        &mut self,
        f: Func,
        args: &[Operand],
        last: Option<Value<'a>>,
        dot: &Value<'a>,
        pos: Pos,
    ) -> Result<Value<'a>, Stop> {
        if matches!(f, Func::And | Func::Or) {
            // Go 1.18+ short-circuits: later arguments are not even evaluated.
            if args.is_empty() && last.is_none() {
                return Err(Stop::Err(
                    pos,
                    format!(
                        "wrong number of args for {}: want at least 1 got 0",
                        f.name()
                    ),
                ));
            }
            let mut v = Value::Nil;
            for a in args {
                v = self.operand(a, dot)?;
                if v.truth() == (f == Func::Or) {
                    return Ok(v);
                }
            }
            return Ok(last.unwrap_or(v));
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.operand(a, dot)?);
        }
        vals.extend(last);
        let v = self.apply(f, &vals).map_err(|m| Stop::Err(pos, m))?;
        match &v {
            Value::Str(s) if s.len() > MAX_VALUE => Err(Stop::Err(
                pos,
                format!("result of {} exceeds {MAX_VALUE} bytes", f.name()),
            )),
            _ => Ok(v),
        }
    }

    fn regex(&mut self, pattern: &str) -> Result<regex::Regex, String> {
        if let Some(re) = self.regexes.get(pattern) {
            return Ok(re.clone());
        }
        let re = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                let last = msg
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                format!(
                    "error parsing regexp: {}: `{pattern}`",
                    last.trim().trim_start_matches("error: ")
                )
            })?;
        if self.regexes.len() < MAX_REGEX_CACHE {
            self.regexes.insert(pattern.to_string(), re.clone());
        }
        Ok(re)
    }

    fn apply(&mut self, f: Func, a: &[Value<'a>]) -> Result<Value<'a>, String> {
        let name = f.name();
        let want = |n: usize| {
            if a.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    a.len()
                ))
            }
        };
        let fail = |m: String| format!("error calling {name}: {m}");
        let str_arg = |i: usize| match a.get(i) {
            Some(Value::Str(s)) => Ok(s.as_str()),
            Some(v) => Err(format!(
                "wrong type for value; expected string; got {}",
                v.type_name()
            )),
            None => Err(format!("wrong number of args for {name}")),
        };
        let float_arg = || -> Result<f64, String> {
            want(1)?;
            to_float(a.first().unwrap_or(&Value::Nil)).map_err(fail)
        };
        let s = |x: String| Ok(Value::Str(x));
        match f {
            Func::And | Func::Or => Ok(Value::Nil),
            Func::Not => want(1).map(|_| Value::Bool(!a.iter().any(Value::truth))),
            Func::Len => {
                want(1)?;
                match a.first() {
                    Some(Value::Str(x)) => Ok(Value::Int(x.len() as i64)),
                    Some(Value::Map(m)) => Ok(Value::Int(m.len() as i64)),
                    Some(v) => Err(fail(format!("len of type {}", v.type_name()))),
                    None => Err(fail("len of nil pointer".into())),
                }
            }
            Func::Index => {
                let Some((item, idx)) = a.split_first() else {
                    return Err(format!(
                        "wrong number of args for {name}: want at least 1 got 0"
                    ));
                };
                let mut item = item.clone();
                for i in idx {
                    item = match (&item, i) {
                        (Value::Map(m), Value::Str(k)) => {
                            Value::Str(m.get(k).cloned().unwrap_or_default())
                        }
                        (Value::Map(_), k) => {
                            return Err(fail(format!(
                                "value has type {}; should be string",
                                k.type_name()
                            )))
                        }
                        (Value::Str(x), Value::Int(n)) => {
                            match usize::try_from(*n).ok().and_then(|n| x.as_bytes().get(n)) {
                                Some(b) => Value::Int(i64::from(*b)),
                                None => return Err(fail(format!("index out of range: {n}"))),
                            }
                        }
                        (Value::Str(_), k) => {
                            return Err(fail(format!(
                                "cannot index slice/array with type {}",
                                k.type_name()
                            )))
                        }
                        (Value::Nil, _) => return Err(fail("index of untyped nil".into())),
                        (v, _) => {
                            return Err(fail(format!("can't index item of type {}", v.type_name())))
                        }
                    };
                }
                Ok(item)
            }
            Func::Print => s(sprint(a, false)),
            Func::Println => s(sprint(a, true)),
            Func::Printf => match a.split_first() {
                Some((Value::Str(format), rest)) => s(sprintf(format, rest)),
                Some((v, _)) => Err(format!(
                    "wrong type for value; expected string; got {}",
                    v.type_name()
                )),
                None => Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                )),
            },
            Func::Html | Func::Js | Func::Urlquery => {
                // Go's evalArgs prints a missing value as "<no value>", not fmt's "<nil>".
                let no_value = |v: &Value<'a>| match v {
                    Value::Nil => Value::Str("<no value>".into()),
                    v => v.clone(),
                };
                let text = match a {
                    [Value::Str(x)] => x.clone(),
                    _ => sprint(&a.iter().map(no_value).collect::<Vec<_>>(), false),
                };
                s(match f {
                    Func::Html => html_escape(&text),
                    Func::Js => js_escape(&text),
                    _ => query_escape(&text),
                })
            }
            Func::Eq => match a.split_first() {
                Some((x, rest)) if !rest.is_empty() => {
                    for y in rest {
                        if eq(x, y).map_err(fail)? {
                            return Ok(Value::Bool(true));
                        }
                    }
                    Ok(Value::Bool(false))
                }
                Some(_) => Err(fail("missing argument for comparison".into())),
                None => Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                )),
            },
            Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => {
                let [x, y] = a else {
                    return want(2).map(|_| Value::Nil);
                };
                let le = || -> Result<bool, String> { Ok(lt(x, y)? || eq(x, y)?) };
                let r = match f {
                    Func::Ne => eq(x, y).map(|b| !b),
                    Func::Lt => lt(x, y),
                    Func::Le => le(),
                    Func::Gt => le().map(|b| !b),
                    _ => lt(x, y).map(|b| !b),
                };
                r.map(Value::Bool).map_err(fail)
            }
            Func::Humanize => s(humanize(float_arg()?)),
            Func::Humanize1024 => s(humanize1024(float_arg()?)),
            Func::HumanizeDuration => s(humanize_duration(float_arg()?)),
            Func::HumanizePercentage => s(format!("{}%", go_g(float_arg()? * 100.0, Some(4)))),
            Func::HumanizeTimestamp => s(humanize_timestamp(float_arg()?).map_err(fail)?),
            Func::ReReplaceAll => {
                want(3)?;
                let (pat, repl, text) = (str_arg(0)?, str_arg(1)?, str_arg(2)?);
                let re = self.regex(pat).map_err(fail)?;
                let mut out = String::new();
                let mut last = 0;
                for caps in re.captures_iter(text) {
                    let Some(m) = caps.get(0) else { continue };
                    out.push_str(text.get(last..m.start()).unwrap_or(""));
                    caps.expand(repl, &mut out);
                    last = m.end();
                    if out.len() > MAX_VALUE {
                        return Err(fail(format!("result exceeds {MAX_VALUE} bytes")));
                    }
                }
                out.push_str(text.get(last..).unwrap_or(""));
                s(out)
            }
            Func::Match => {
                want(2)?;
                let (pat, text) = (str_arg(0)?, str_arg(1)?);
                Ok(Value::Bool(self.regex(pat).map_err(fail)?.is_match(text)))
            }
            Func::ExternalUrl | Func::PathPrefix => want(0).map(|_| Value::Str(String::new())),
            _ => {
                want(1)?;
                let x = str_arg(0)?;
                s(match f {
                    Func::ToUpper => x
                        .chars()
                        .map(|c| single(c.to_uppercase()).unwrap_or(c))
                        .collect(),
                    Func::ToLower => x
                        .chars()
                        .map(|c| single(c.to_lowercase()).unwrap_or(c))
                        .collect(),
                    Func::Title => title(x),
                    Func::StripPort => split_host_port(x).map_or(x, |(h, _)| h).to_string(),
                    Func::StripDomain => strip_domain(x),
                    Func::GraphLink => format!("/graph?g0.expr={}&g0.tab=0", query_escape(x)),
                    Func::TableLink => format!("/graph?g0.expr={}&g0.tab=1", query_escape(x)),
                    Func::UrlQueryEscape => query_escape(x),
                    _ => x.to_string(), // safeHtml: only html/template treats it specially.
                })
            }
        }
    }
}

/// How Go's errors name an operand that is not a function (it has no fields here).
fn describe_operand(op: &Operand) -> String {
    match &op.term {
        Term::Var(v) => v.clone(),
        Term::Str(s) => go_quote(s, '"'),
        Term::Int(i) => i.to_string(),
        Term::Float(f) => go_g(*f, None),
        Term::Bool(b) => b.to_string(),
        Term::Dot => ".".into(),
        _ => "(…)".into(),
    }
}

/// Field access with `missingkey=zero`: a missing label is the empty string.
fn field_chain<'a>(mut v: Value<'a>, fields: &[String], pos: Pos) -> Result<Value<'a>, Stop> {
    for name in fields {
        v = match v {
            Value::Map(m) => Value::Str(m.get(name).cloned().unwrap_or_default()),
            Value::Root(labels, ext, value) => match name.as_str() {
                "Labels" => Value::Map(labels),
                "ExternalLabels" => Value::Map(ext),
                "ExternalURL" => Value::Str(String::new()),
                "Value" => Value::Float(value),
                _ => {
                    return Err(Stop::Err(
                        pos,
                        format!("can't evaluate field {name} in type {ROOT_TYPE}"),
                    ))
                }
            },
            Value::Nil => Value::Nil,
            other => {
                return Err(Stop::Err(
                    pos,
                    format!("can't evaluate field {name} in type {}", other.type_name()),
                ))
            }
        };
    }
    Ok(v)
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

fn eq(x: &Value, y: &Value) -> Result<bool, String> {
    Ok(match (x, y) {
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::Float(a), Value::Float(b)) => a == b,
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Nil, Value::Nil) => true,
        (Value::Nil, _) | (_, Value::Nil) => false,
        (Value::Map(_) | Value::Root(..), _) | (_, Value::Map(_) | Value::Root(..))
            if std::mem::discriminant(x) == std::mem::discriminant(y) =>
        {
            return Err(format!("non-comparable type {}: {}", y.v(), y.type_name()))
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn lt(x: &Value, y: &Value) -> Result<bool, String> {
    let ordered = |v: &Value| {
        matches!(
            v,
            Value::Int(_) | Value::Float(_) | Value::Str(_) | Value::Bool(_)
        )
    };
    if !ordered(x) || !ordered(y) {
        return Err("invalid type for comparison".into());
    }
    match (x, y) {
        (Value::Int(a), Value::Int(b)) => Ok(a < b),
        (Value::Float(a), Value::Float(b)) => Ok(a < b),
        (Value::Str(a), Value::Str(b)) => Ok(a < b),
        (Value::Bool(_), Value::Bool(_)) => Err("invalid type for comparison".into()),
        _ => Err("incompatible types for comparison".into()),
    }
}

/// `common_templates.ConvertToFloat`: numbers as they are, strings via `strconv.ParseFloat`.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => {
            let err =
                |why: &str| format!("strconv.ParseFloat: parsing {}: {why}", go_quote(s, '"'));
            let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
            let word = unsigned.to_ascii_lowercase();
            // Go takes a sign before "Inf" but not before "NaN"; Rust takes both.
            if word == "nan" && unsigned.len() != s.len() {
                return Err(err("invalid syntax"));
            }
            let f: f64 = s.parse().map_err(|_| err("invalid syntax"))?;
            if f.is_infinite() && word != "inf" && word != "infinity" {
                return Err(err("value out of range"));
            }
            Ok(f)
        }
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

// ---------------------------------------------------------------- Prometheus functions

const SMALL_PREFIXES: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

fn scale_small(mut v: f64) -> (f64, &'static str) {
    let mut prefix = "";
    for p in SMALL_PREFIXES {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    (v, prefix)
}

fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, Some(4));
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", go_g(v, Some(4)));
    }
    let (v, prefix) = scale_small(v);
    format!("{}{prefix}", go_g(v, Some(4)))
}

fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g(v, Some(4)))
}

fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, Some(4)));
    }
    if v.abs() < 1.0 {
        let (v, prefix) = scale_small(v);
        return format!("{}{prefix}s", go_g(v, Some(4)));
    }
    let sign = if v < 0.0 { "-" } else { "" };
    v = v.abs();
    // Go's int64() of an out-of-range float is MinInt64 on amd64; match it, don't saturate.
    let d = if v >= TWO_POW_63 { i64::MIN } else { v as i64 };
    let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
    if days != 0 {
        format!("{sign}{days}d {h}h {m}m {s}s")
    } else if h != 0 {
        format!("{sign}{h}h {m}m {s}s")
    } else if m != 0 {
        format!("{sign}{m}m {s}s")
    } else {
        format!("{sign}{}s", go_g(v, Some(4)))
    }
}

/// 2^63 as Go's `float64(math.MaxInt64)` rounds it: the bound of Go's int64 conversions.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// Millisecond precision and `time.Time.String()`'s layout, as `model.Time` gives Prometheus.
fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(go_g(v, Some(4)));
    }
    let ns = v * 1e9;
    if !(-TWO_POW_63..=TWO_POW_63).contains(&ns) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            go_g(v, None)
        ));
    }
    let ms = (ns as i64) / 1_000_000;
    let (secs, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!(".{frac:03}");
        out.push_str(f.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    Ok(out)
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower)` with x/text's approximation of
/// Unicode word breaking: the first cased letter of a word is title-cased; letters, digits
/// and `_` never break a word, one "mid" character (`'`, `.`, `:`, …) between them does not
/// either, anything else does. Hence `3am` → `3Am` and `x.y` → `X.y`, as Prometheus prints.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut mid_word, mut prev_mid) = (false, false);
    for c in s.chars() {
        let is_mid = matches!(
            c,
            '\'' | '.' | ':' | '·' | '‘' | '’' | '\u{2024}' | '\u{2027}'
        );
        if prev_mid && is_mid {
            mid_word = false;
        }
        if c.is_lowercase() || c.is_uppercase() {
            if mid_word {
                out.push(c);
            } else {
                title_case(c, &mut out);
                mid_word = true;
            }
        } else if !(is_mid || is_alnum(c)) {
            out.push(c);
            mid_word = false;
        } else {
            out.push(c);
        }
        prev_mid = is_mid;
    }
    out
}

/// Rust has no title-case mapping: the Latin digraphs have their own title forms, and a
/// letter that uppercases to several (`ß` → `SS`) title-cases to `Ss`.
fn title_case(c: char, out: &mut String) {
    let digraph = match c {
        'Ǆ' | 'ǅ' | 'ǆ' => Some('ǅ'),
        'Ǉ' | 'ǈ' | 'ǉ' => Some('ǈ'),
        'Ǌ' | 'ǋ' | 'ǌ' => Some('ǋ'),
        'Ǳ' | 'ǲ' | 'ǳ' => Some('ǲ'),
        _ => None,
    };
    if let Some(t) = digraph {
        return out.push(t);
    }
    for (i, u) in c.to_uppercase().enumerate() {
        if i == 0 {
            out.push(u);
        } else {
            out.extend(u.to_lowercase());
        }
    }
}

/// `net.SplitHostPort`.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        (hp.get(1..end)?, 1, end + 1)
    } else {
        let host = hp.get(..i)?;
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hp.get(j..)?.contains('[') || hp.get(k..)?.contains(']') {
        return None;
    }
    Some((host, hp.get(i + 1..)?))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    match (port.is_empty(), host.contains(':')) {
        (true, _) => host.to_string(),
        (false, true) => format!("[{host}]:{port}"),
        (false, false) => format!("{host}:{port}"),
    }
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go's `html/template` escaping of text, also what notification e-mails use.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if c < ' ' || c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------- Go's fmt

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    /// `%#v`: Go syntax, which for the values here only changes strings (quoted).
    sharp_v: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprint` (spaces only between two non-strings) or `fmt.Sprintln` (always).
fn sprint(args: &[Value], ln: bool) -> String {
    let mut out = String::new();
    let mut prev: Option<bool> = None;
    for a in args {
        let is_str = matches!(a, Value::Str(_));
        if prev.is_some_and(|p| ln || (!is_str && !p)) {
            out.push(' ');
        }
        fmt_arg(&mut out, a, 'v', &Spec::default());
        prev = Some(is_str);
    }
    if ln {
        out.push('\n');
    }
    out
}

fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut next_arg = 0;
    let number = |it: &mut std::iter::Peekable<std::str::Chars>| {
        let mut n: Option<usize> = None;
        while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
            it.next();
            n = Some((n.unwrap_or(0) * 10 + d as usize).min(MAX_VALUE));
        }
        n
    };
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = it.peek() {
            match f {
                '-' => (spec.minus, spec.zero) = (true, false),
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                '#' => spec.sharp = true,
                _ => break,
            }
            it.next();
        }
        spec.width = number(&mut it);
        if it.peek() == Some(&'.') {
            it.next();
            spec.prec = Some(number(&mut it).unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == 'v' {
            // As in fmt: for %v, '#' means Go syntax and '+' field names, not sign or prefix.
            (spec.sharp_v, spec.sharp, spec.plus) = (spec.sharp, false, false);
        }
        match args.get(next_arg) {
            _ if verb == '%' => out.push('%'),
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
            Some(a) => {
                fmt_arg(&mut out, a, verb, &spec);
                next_arg += 1;
            }
        }
        if out.len() > MAX_VALUE {
            break;
        }
    }
    if let Some(extra) = args.get(next_arg..).filter(|e| !e.is_empty()) {
        out.push_str("%!(EXTRA ");
        for (i, a) in extra.iter().enumerate() {
            out.push_str(if i > 0 { ", " } else { "" });
            match a {
                Value::Nil => out.push_str("<nil>"),
                a => {
                    let _ = write!(out, "{}={}", a.type_name(), a.v());
                }
            }
        }
        out.push(')');
    }
    out
}

fn pad(out: &mut String, s: &str, spec: &Spec, zero: bool) {
    let n = spec.width.unwrap_or(0).saturating_sub(s.chars().count());
    let fill = if zero && spec.zero && !spec.minus {
        '0'
    } else {
        ' '
    };
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', n));
    } else {
        out.extend(std::iter::repeat_n(fill, n));
        out.push_str(s);
    }
}

/// One `printf` operand, following `fmt`'s printArg: unknown verbs become
/// `%!verb(type=value)`, and maps and the root struct format element by element.
fn fmt_arg(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    if verb == 'T' {
        return pad(out, v.type_name(), spec, false);
    }
    let ok = match v {
        Value::Nil if verb == 'v' => {
            pad(out, "<nil>", spec, true);
            true
        }
        Value::Nil => false,
        Value::Bool(b) if matches!(verb, 'v' | 't') => {
            pad(out, if *b { "true" } else { "false" }, spec, true);
            true
        }
        Value::Bool(_) => false,
        Value::Int(i) => fmt_int(out, *i, verb, spec),
        Value::Float(f) => fmt_float(out, *f, verb, spec),
        Value::Str(s) => fmt_str(out, s, verb, spec),
        Value::Map(m) if spec.sharp_v => {
            out.push_str("map[string]string{");
            for (i, (k, val)) in m.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                let _ = write!(out, "{sep}{}:{}", go_quote(k, '"'), go_quote(val, '"'));
            }
            out.push('}');
            true
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                for (j, x) in [k, val].into_iter().enumerate() {
                    if j > 0 {
                        out.push(':');
                    }
                    if !fmt_str(out, x, verb, spec) {
                        bad_verb(out, &Value::Str(x.clone()), verb, spec);
                    }
                }
            }
            out.push(']');
            true
        }
        Value::Root(labels, ext, value) => {
            out.push('{');
            fmt_arg(out, &Value::Map(labels), verb, spec);
            out.push(' ');
            fmt_arg(out, &Value::Map(ext), verb, spec);
            out.push(' ');
            fmt_arg(out, &Value::Str(String::new()), verb, spec);
            out.push(' ');
            fmt_arg(out, &Value::Float(*value), verb, spec);
            out.push('}');
            true
        }
    };
    if !ok {
        bad_verb(out, v, verb, spec);
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    let _ = write!(out, "%!{verb}(");
    if matches!(v, Value::Nil) {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        fmt_arg(out, v, 'v', spec);
    }
    out.push(')');
}

fn fmt_str(out: &mut String, s: &str, verb: char, spec: &Spec) -> bool {
    let s: String = match spec.prec {
        Some(p) if matches!(verb, 'v' | 's' | 'q') => s.chars().take(p).collect(),
        _ => s.to_string(),
    };
    match verb {
        'v' if spec.sharp_v => pad(out, &go_quote(&s, '"'), spec, true),
        'v' | 's' => pad(out, &s, spec, true),
        'q' => pad(out, &go_quote(&s, '"'), spec, true),
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = spec.prec.map_or(bytes, |p| bytes.get(..p).unwrap_or(bytes));
            let mut h = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                let _ = if verb == 'x' {
                    write!(h, "{b:02x}")
                } else {
                    write!(h, "{b:02X}")
                };
            }
            pad(out, &h, spec, true);
        }
        _ => return false,
    }
    true
}

fn fmt_int(out: &mut String, i: i64, verb: char, spec: &Spec) -> bool {
    let u = i.unsigned_abs();
    let mut digits = match verb {
        'v' | 'd' => u.to_string(),
        'b' => format!("{u:b}"),
        'o' | 'O' => format!("{u:o}"),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        'c' | 'q' | 'U' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let s = match verb {
                'c' => c.to_string(),
                'q' => go_quote(&c.to_string(), '\''),
                _ => format!("U+{:04X}", i),
            };
            pad(out, &s, spec, false);
            return true;
        }
        _ => return false,
    };
    let signed = i < 0 || spec.plus || spec.space;
    let min = match spec.prec {
        Some(0) if i == 0 => {
            pad(out, "", spec, false);
            return true;
        }
        Some(p) => p,
        None if spec.zero && !spec.minus => {
            spec.width.unwrap_or(0).saturating_sub(usize::from(signed))
        }
        None => 0,
    };
    if digits.len() < min {
        digits.insert_str(0, &"0".repeat(min - digits.len()));
    }
    let prefix = match verb {
        'b' if spec.sharp => "0b",
        'o' if spec.sharp && !digits.starts_with('0') => "0",
        'O' => "0o",
        'x' if spec.sharp => "0x",
        'X' if spec.sharp => "0X",
        _ => "",
    };
    let sign = if i < 0 {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    pad(out, &format!("{sign}{prefix}{digits}"), spec, false);
    true
}

fn fmt_float(out: &mut String, f: f64, verb: char, spec: &Spec) -> bool {
    let num = match verb {
        'v' | 'g' | 'G' => go_g(f.abs(), spec.prec),
        'e' | 'E' => {
            let (d, dp) = digits(f.abs(), Some(spec.prec.unwrap_or(6) + 1));
            fmt_e(&d, dp, spec.prec.unwrap_or(6) as i64)
        }
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f.abs()),
        _ => return false,
    };
    let num = if verb.is_ascii_uppercase() {
        num.to_ascii_uppercase()
    } else {
        num
    };
    if f.is_nan() {
        let sign = if spec.plus {
            "+"
        } else if spec.space {
            " "
        } else {
            ""
        };
        pad(out, &format!("{sign}NaN"), spec, false);
        return true;
    }
    let sign = if f.is_sign_negative() {
        "-"
    } else if spec.plus || (f.is_infinite() && !spec.space) {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    if f.is_infinite() {
        pad(out, &format!("{sign}Inf"), spec, false);
        return true;
    }
    let width = spec.width.unwrap_or(0);
    let len = sign.len() + num.len();
    if spec.zero && !spec.minus && width > len {
        let _ = write!(out, "{sign}{}{num}", "0".repeat(width - len));
    } else {
        pad(out, &format!("{sign}{num}"), spec, false);
    }
    true
}

/// Decimal digits (no trailing zeros) and decimal-point position of a finite `v >= 0`,
/// shortest round-trip or rounded to `sig` significant digits, as strconv computes them.
fn digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i64) {
    if v == 0.0 || !v.is_finite() {
        return (Vec::new(), 0);
    }
    let s = match sig {
        None => format!("{v:e}"),
        Some(p) => format!("{:.*e}", p.max(1) - 1, v),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut d: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    (d, exp.parse::<i64>().unwrap_or(0) + 1)
}

fn fmt_e(d: &[u8], dp: i64, prec: i64) -> String {
    let mut s = String::new();
    s.push(char::from(*d.first().unwrap_or(&b'0')));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(char::from(
                *usize::try_from(i)
                    .ok()
                    .and_then(|i| d.get(i))
                    .unwrap_or(&b'0'),
            ));
        }
    }
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    let _ = write!(s, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    s
}

fn fmt_f(d: &[u8], dp: i64, prec: i64) -> String {
    let digit = |j: i64| {
        char::from(
            *usize::try_from(j)
                .ok()
                .and_then(|j| d.get(j))
                .unwrap_or(&b'0'),
        )
    };
    let mut s: String = if dp > 0 {
        (0..dp).map(digit).collect()
    } else {
        "0".into()
    };
    if prec > 0 {
        s.push('.');
        s.extend((0..prec).map(|i| digit(dp + i)));
    }
    s
}

/// strconv's `%g` (`prec` significant digits, or shortest), which Go's `%v` and every
/// humanize function use; special values print as `+Inf`, `-Inf`, `NaN`.
fn go_g(v: f64, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let prec = prec.map(|p| p.max(1));
    let (d, dp) = digits(v.abs(), prec);
    let nd = d.len() as i64;
    let mut p = prec.map_or(nd, |p| p as i64);
    let mut eprec = if p > nd && nd >= dp { nd } else { p };
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        p = p.min(nd);
        return format!("{sign}{}", fmt_e(&d, dp, p - 1));
    }
    if p > dp {
        p = nd;
    }
    format!("{sign}{}", fmt_f(&d, dp, (p - dp).max(0)))
}

/// `strconv.Quote` (or `QuoteRune` with `'`): Go's escapes, lowercase hex.
fn go_quote(s: &str, q: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                let _ = if (c as u32) < 0x10000 {
                    write!(out, "\\u{:04x}", c as u32)
                } else {
                    write!(out, "\\U{:08x}", c as u32)
                };
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests;
