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
    /// Share of the sum of all bars, in percent.
    pub percent: f64,
    /// Length in chart units (`BAR_SPACE` for the largest value).
    pub length: f64,
}

/// Chart units the longest bar takes.
const BAR_SPACE: f64 = 170.0;
/// Labels longer than this are cut (the full name is in the tables).
const LABEL_CHARS: usize = 18;

impl BarChart {
    pub fn new(title: impl Into<String>, values: impl IntoIterator<Item = (String, u64)>) -> Self {
        let values: Vec<(String, u64)> = values.into_iter().collect();
        let sum: u64 = values.iter().map(|(_, v)| v).sum();
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
    if label.chars().count() <= LABEL_CHARS {
        label.to_string()
    } else {
        let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
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
    }
}
