//! Bar charts drawn as inline SVG by the templates (`templates/charts.html`).

/// Horizontal bars, longest for the largest value.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// What the chart shows, for screen readers.
    pub title: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    /// Share of the chart's total, in percent.
    pub percent: f64,
    /// Length in chart units (`BAR_SPACE` for the largest value).
    pub length: f64,
}

/// Chart units the longest bar takes.
const BAR_SPACE: f64 = 150.0;
/// Labels wider than this many narrow characters are cut (the full name is in the
/// tables); a wide character (CJK, emoji) counts as two.
const LABEL_CHARS: usize = 18;

impl BarChart {
    /// Bars whose percentages share their own sum (the bars are the whole).
    pub fn new(title: impl Into<String>, values: impl IntoIterator<Item = (String, u64)>) -> Self {
        let values: Vec<(String, u64)> = values.into_iter().collect();
        let sum = values.iter().map(|(_, v)| v).sum();
        Self::of_total(title, values, sum)
    }

    /// Bars that are a part of `total` (the top 3 of all games played): each
    /// percentage is its share of `total`.
    pub fn of_total(
        title: impl Into<String>,
        values: impl IntoIterator<Item = (String, u64)>,
        total: u64,
    ) -> Self {
        let values: Vec<(String, u64)> = values.into_iter().collect();
        let sum = total.max(values.iter().map(|(_, v)| v).sum());
        let max = values.iter().map(|(_, v)| *v).max().unwrap_or(0);
        let bars = values
            .into_iter()
            .map(|(label, value)| Bar {
                label: short(&label),
                value,
                percent: if sum == 0 {
                    0.0
                } else {
                    value as f64 * 100.0 / sum as f64
                },
                length: if max == 0 {
                    0.0
                } else {
                    value as f64 * BAR_SPACE / max as f64
                },
            })
            .collect();
        BarChart {
            title: title.into(),
            bars,
        }
    }

    /// Height of the SVG in chart units.
    pub fn height(&self) -> usize {
        self.bars.len().max(1) * 26 + 6
    }

    pub fn is_empty(&self) -> bool {
        self.bars.iter().all(|b| b.value == 0)
    }
}

fn short(label: &str) -> String {
    if label.chars().map(width).sum::<usize>() <= LABEL_CHARS {
        return label.to_string();
    }
    let mut used = 0;
    let mut cut: String = label
        .chars()
        .take_while(|c| {
            used += width(*c);
            used < LABEL_CHARS
        })
        .collect();
    cut.push('…');
    cut
}

/// How many narrow columns a character takes: 2 for the East Asian wide and emoji
/// blocks, 1 for the rest (close enough to cut a chart label).
fn width(c: char) -> usize {
    match u32::from(c) {
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_share_the_sum() {
        let chart = BarChart::new(
            "routes",
            [("kafka".to_string(), 30), ("rabbitmq".to_string(), 10)],
        );
        assert_eq!(chart.bars[0].length, BAR_SPACE);
        assert_eq!(chart.bars[1].length, BAR_SPACE / 3.0);
        assert_eq!(chart.bars[0].percent, 75.0);
        assert_eq!(chart.bars[1].percent, 25.0);
        assert!(!chart.is_empty());
    }

    #[test]
    fn a_part_of_a_total_shares_the_total() {
        let chart = BarChart::of_total("top games", [("Random".to_string(), 106)], 236);
        assert!((chart.bars[0].percent - 44.915).abs() < 0.01);
        assert_eq!(chart.bars[0].length, BAR_SPACE);
    }

    #[test]
    fn an_empty_chart_has_no_length_and_no_division_by_zero() {
        let chart = BarChart::new("routes", [("kafka".to_string(), 0)]);
        assert_eq!(chart.bars[0].length, 0.0);
        assert_eq!(chart.bars[0].percent, 0.0);
        assert!(chart.is_empty());
    }

    #[test]
    fn long_labels_are_cut_on_a_character_boundary() {
        let chart = BarChart::new("games", [("ñ".repeat(40), 1)]);
        assert_eq!(chart.bars[0].label.chars().count(), LABEL_CHARS);
        assert!(chart.bars[0].label.ends_with('…'));
        let wide = BarChart::new("games", [("游戏".repeat(10), 1)]);
        assert_eq!(wide.bars[0].label.chars().count(), LABEL_CHARS / 2);
        assert!(wide.bars[0].label.ends_with('…'));
        let fits = BarChart::new("games", [("Glass Bridge".to_string(), 1)]);
        assert_eq!(fits.bars[0].label, "Glass Bridge");
    }
}
