//! Property tests: any list of games written in either syntax parses back to itself.

use proptest::prelude::*;
use rungame::games::{parse_games, GameSpec};

fn games() -> impl Strategy<Value = Vec<GameSpec>> {
    // Names: letters of any script, digits and inner spaces; no separators.
    let name = "[\\p{L}]([\\p{L}0-9 ]{0,20}[\\p{L}0-9])?";
    proptest::collection::btree_map(0u32..100_000, name, 1..8).prop_map(|m| {
        m.into_iter()
            .map(|(number, name)| GameSpec { number, name })
            .collect()
    })
}

proptest! {
    #[test]
    fn the_semicolon_syntax_round_trips(list in games()) {
        let input = list.iter().map(|g| format!("{} | {}", g.number, g.name)).collect::<Vec<_>>().join(" ; ");
        prop_assert_eq!(parse_games(&input).map_err(|e| e.to_string()), Ok(list));
    }

    #[test]
    fn the_pipe_syntax_round_trips(list in games()) {
        let input = list.iter().map(|g| format!("{} {}", g.number, g.name)).collect::<Vec<_>>().join(" | ");
        prop_assert_eq!(parse_games(&input).map_err(|e| e.to_string()), Ok(list));
    }

    #[test]
    fn a_missing_number_is_named(list in games(), bad in "[a-z]{1,8}") {
        let mut entries: Vec<String> = list.iter().map(|g| format!("{} {}", g.number, g.name)).collect();
        entries.push(bad.clone());
        let err = parse_games(&entries.join(" | ")).unwrap_err().to_string();
        let expected = format!("{bad:?} has no game number");
        prop_assert!(err.contains(&expected), "{}", err);
    }

    #[test]
    fn a_duplicate_number_is_named(list in games()) {
        let mut entries: Vec<String> = list.iter().map(|g| format!("{} | {}", g.number, g.name)).collect();
        entries.push(format!("{} | Again", list[0].number));
        let err = parse_games(&entries.join(" ; ")).unwrap_err().to_string();
        let expected = format!("game number {} is given twice", list[0].number);
        prop_assert!(err.contains(&expected), "{}", err);
    }
}
