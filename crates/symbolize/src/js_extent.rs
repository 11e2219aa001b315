//! Where a JavaScript function's text ends, found by scanning its source from where V8 says
//! it starts (the `(` of its parameters): V8's line tables for optimized code give the line of
//! the innermost inlined function, under the outer function's script name (Node 20 to 24), so
//! a line is only the outer function's own when it lies within the function's text.
//!
//! The scan skips strings, template literals, comments and regular expressions, and gives up
//! (`None`) where it is not sure: the line table is then taken as V8 wrote it.

/// A position in a source text: 1-based line, 1-based column (in characters).
pub(crate) type Position = (u32, u32);

/// A script's text, indexed by line.
pub(crate) struct Source {
    chars: Vec<char>,
    /// The index of the first character of each line.
    line_starts: Vec<usize>,
}

impl Source {
    /// Indexes `text`.
    pub(crate) fn new(text: &str) -> Source {
        let chars: Vec<char> = text.chars().collect();
        let newlines = chars.iter().enumerate().filter(|(_, &c)| c == '\n');
        let line_starts = std::iter::once(0)
            .chain(newlines.map(|(i, _)| i + 1))
            .collect();
        Source { chars, line_starts }
    }

    /// The position of the closing `}` of the function whose parameter list opens at
    /// `start`: a `function`, method or arrow function with a block body.
    pub(crate) fn function_end(&self, start: Position) -> Option<Position> {
        let chars = &self.chars;
        let open = self.index_of(start)?;
        if chars.get(open) != Some(&'(') {
            return None;
        }
        let params_end = matching(chars, open)?;
        let mut at = skip_space(chars, params_end + 1);
        if chars.get(at) == Some(&'=') && chars.get(at + 1) == Some(&'>') {
            at = skip_space(chars, at + 2);
        }
        if chars.get(at) != Some(&'{') {
            return None;
        }
        let end = matching(chars, at)?;
        Some(self.position_of(end))
    }

    fn index_of(&self, (line, column): Position) -> Option<usize> {
        let line_start = *self.line_starts.get((line as usize).checked_sub(1)?)?;
        let index = line_start + (column as usize).checked_sub(1)?;
        (index < self.chars.len()).then_some(index)
    }

    fn position_of(&self, index: usize) -> Position {
        let line = self.line_starts.partition_point(|&start| start <= index);
        (line as u32, (index - self.line_starts[line - 1]) as u32 + 1)
    }
}

fn skip_space(chars: &[char], mut at: usize) -> usize {
    while chars.get(at).is_some_and(|c| c.is_whitespace()) {
        at += 1;
    }
    at
}

/// What the scanner is inside.
enum Mode {
    /// Code, closed by this character.
    Code(char),
    /// A template literal's text.
    Template,
}

/// The index of the bracket closing the one at `open`.
fn matching(chars: &[char], open: usize) -> Option<usize> {
    let mut stack = vec![Mode::Code(closer(chars[open])?)];
    // The last character of code that was not space or comment: decides whether `/` starts
    // a regular expression or divides.
    let mut previous = chars[open];
    let mut at = open + 1;
    while let Some(&c) = chars.get(at) {
        match stack.last()? {
            Mode::Template => match c {
                '\\' => at += 1,
                '`' => {
                    stack.pop();
                    previous = '`';
                }
                '$' if chars.get(at + 1) == Some(&'{') => {
                    stack.push(Mode::Code('}'));
                    previous = '{';
                    at += 1;
                }
                _ => {}
            },
            &Mode::Code(close) => match c {
                '\'' | '"' => {
                    at = string_end(chars, at, c)?;
                    previous = c;
                }
                '`' => stack.push(Mode::Template),
                '/' if chars.get(at + 1) == Some(&'/') => {
                    at = chars[at..].iter().position(|&c| c == '\n')? + at;
                }
                '/' if chars.get(at + 1) == Some(&'*') => {
                    at = chars[at + 2..].windows(2).position(|w| w == ['*', '/'])? + at + 3;
                }
                '/' if !(previous.is_alphanumeric() || "_$)]}".contains(previous)) => {
                    at = regex_end(chars, at)?;
                    previous = 'r';
                }
                '(' | '[' | '{' => {
                    stack.push(Mode::Code(closer(c)?));
                    previous = c;
                }
                ')' | ']' | '}' => {
                    if c != close {
                        return None;
                    }
                    stack.pop();
                    if stack.is_empty() {
                        return Some(at);
                    }
                    previous = c;
                }
                c if c.is_whitespace() => {}
                _ => previous = c,
            },
        }
        at += 1;
    }
    None
}

fn closer(open: char) -> Option<char> {
    match open {
        '(' => Some(')'),
        '[' => Some(']'),
        '{' => Some('}'),
        _ => None,
    }
}

/// The index of the quote closing the string opened at `open`.
fn string_end(chars: &[char], open: usize, quote: char) -> Option<usize> {
    let mut at = open + 1;
    loop {
        match *chars.get(at)? {
            '\\' => at += 2,
            '\n' => return None,
            c if c == quote => return Some(at),
            _ => at += 1,
        }
    }
}

/// The index of the `/` closing the regular expression opened at `open`.
fn regex_end(chars: &[char], open: usize) -> Option<usize> {
    let mut at = open + 1;
    let mut class = false;
    loop {
        match *chars.get(at)? {
            '\\' => at += 1,
            '\n' => return None,
            '[' => class = true,
            ']' => class = false,
            '/' if !class => return Some(at),
            _ => {}
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_closing_brace_past_strings_comments_templates_and_regexes() {
        let source = "\
'use strict';
function keep(n) { // a } in a comment
  const s = '}' + \"{\" + `${n + `}`}}` + /[}]\\//.source;
  /* } */ return s.length / 2;
}
const arrow = (a) => { return { a }; };
const expression = (a) => a;
";
        let source = Source::new(source);
        assert_eq!(source.function_end((2, 14)), Some((5, 1)));
        assert_eq!(source.function_end((6, 15)), Some((6, 38)));
        // An arrow function without a block body, and a position not at a `(`: not known.
        assert_eq!(source.function_end((7, 20)), None);
        assert_eq!(source.function_end((2, 1)), None);
        assert_eq!(source.function_end((99, 1)), None);
        assert_eq!(Source::new("function f( {").function_end((1, 11)), None);
    }
}
