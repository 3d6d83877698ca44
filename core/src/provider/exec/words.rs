//! A command line split into words as a POSIX shell splits it, and nothing more: single
//! quotes keep everything, double quotes keep everything but `\"`, `\\`, `\$` and `` \` ``,
//! a backslash outside quotes keeps the next character. No expansion of any kind.

pub(super) fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err("it ends with a lone backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("no command".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words_split_as_sh_splits_them_without_expanding() {
        let w = |s: &str| split(s).unwrap();
        assert_eq!(w("get-token --for db"), ["get-token", "--for", "db"]);
        assert_eq!(
            w(r#"a 'b c' "d \"e\" $HOME" f\ g"#),
            ["a", "b c", r#"d "e" $HOME"#, "f g"]
        );
        assert_eq!(w(r#"x "a\nb""#), ["x", r"a\nb"]);
        assert_eq!(w("x ''"), ["x", ""]);
        assert_eq!(w("  spaced   out  "), ["spaced", "out"]);
        assert_eq!(w("a|b;c"), ["a|b;c"]);
        for bad in ["'open", "\"open", "end\\", "   "] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }
}
