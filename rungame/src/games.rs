//! Parsing `--gamename`: `"1 | Random ; 2 | Roulette"` or `"1 Random | 2 Roulette | 5 Last"`.

use std::fmt;

/// One game the run draws from: its number and the label sent in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameSpec {
    pub number: u32,
    pub name: String,
}

impl fmt::Display for GameSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number, self.name)
    }
}

/// A `--gamename` value that cannot be read; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --gamename {input:?}: {problem}")]
pub struct GameListError {
    pub input: String,
    pub problem: String,
}

/// Parses either syntax. Entries are `;`-separated `number | name` pairs when the value
/// contains `;` (or is one such pair), else `|`-separated `number name` pairs.
pub fn parse_games(input: &str) -> Result<Vec<GameSpec>, GameListError> {
    let fail = |problem: String| GameListError {
        input: input.to_string(),
        problem,
    };
    if input.trim().is_empty() {
        return Err(fail("no games given".into()));
    }
    let pairs: Vec<(String, String, String)> = if is_semicolon_syntax(input) {
        input
            .split(';')
            .map(|entry| match entry.split_once('|') {
                Some((number, name)) => Ok((
                    entry.trim().to_string(),
                    number.trim().to_string(),
                    name.trim().to_string(),
                )),
                None if entry.trim().is_empty() => Err(fail("an entry is empty".into())),
                None => Err(fail(format!(
                    "{:?} has no \"|\" between game number and name",
                    entry.trim()
                ))),
            })
            .collect::<Result<_, _>>()?
    } else {
        input
            .split('|')
            .map(|entry| {
                let entry = entry.trim();
                let (number, name) = entry.split_once(char::is_whitespace).unwrap_or((entry, ""));
                (
                    entry.to_string(),
                    number.trim().to_string(),
                    name.trim().to_string(),
                )
            })
            .collect()
    };
    let mut games: Vec<GameSpec> = Vec::with_capacity(pairs.len());
    for (entry, number, name) in pairs {
        if entry.is_empty() {
            return Err(fail("an entry is empty".into()));
        }
        let number: u32 = number
            .parse()
            .map_err(|_| fail(format!("{entry:?} has no game number")))?;
        if name.is_empty() {
            return Err(fail(format!("{entry:?} has no game name")));
        }
        if name.chars().count() > 64 {
            return Err(fail(format!(
                "{entry:?}: a game name has at most 64 characters"
            )));
        }
        if games.iter().any(|g| g.number == number) {
            return Err(fail(format!("game number {number} is given twice")));
        }
        games.push(GameSpec { number, name });
    }
    Ok(games)
}

/// `"1 | Random ; 2 | Roulette"` and the single entry `"1 | Random"`.
fn is_semicolon_syntax(input: &str) -> bool {
    if input.contains(';') {
        return true;
    }
    let parts: Vec<&str> = input.split('|').collect();
    parts.len() == 2
        && !parts[0].trim().is_empty()
        && parts[0].trim().chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(number: u32, name: &str) -> GameSpec {
        GameSpec {
            number,
            name: name.into(),
        }
    }

    #[test]
    fn reads_the_semicolon_syntax() {
        assert_eq!(
            parse_games("1 | Random ; 2 | Roulette").unwrap(),
            vec![spec(1, "Random"), spec(2, "Roulette")]
        );
        assert_eq!(
            parse_games("4 | Glass Bridge").unwrap(),
            vec![spec(4, "Glass Bridge")]
        );
    }

    #[test]
    fn reads_the_pipe_syntax() {
        assert_eq!(
            parse_games("1 Random | 2 Roulette | 5 Last").unwrap(),
            vec![spec(1, "Random"), spec(2, "Roulette"), spec(5, "Last")]
        );
        assert_eq!(
            parse_games("6 Red Light Green Light | 3 줄다리기").unwrap(),
            vec![spec(6, "Red Light Green Light"), spec(3, "줄다리기")]
        );
        assert_eq!(parse_games("1 Random").unwrap(), vec![spec(1, "Random")]);
    }

    #[test]
    fn names_the_offending_part() {
        let problem = |s: &str| parse_games(s).unwrap_err().to_string();
        assert_eq!(
            problem("1 Random | x"),
            "invalid --gamename \"1 Random | x\": \"x\" has no game number"
        );
        assert_eq!(
            problem("1 | Random ; 2 |"),
            "invalid --gamename \"1 | Random ; 2 |\": \"2 |\" has no game name"
        );
        assert!(problem("1 A | 1 B").contains("game number 1 is given twice"));
        assert!(problem("").contains("no games given"));
        assert!(problem("1 | A ; ").contains("an entry is empty"));
        assert!(
            problem("1 A ; 2 | B").contains("\"1 A\" has no \"|\" between game number and name")
        );
        assert!(problem("1 A || 2 B").contains("an entry is empty"));
    }
}
