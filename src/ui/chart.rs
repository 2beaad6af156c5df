//! Small bar charts as inline SVG, drawn on the server: no chart library, no script.

use std::fmt::Write;

use super::html::escape;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
/// Room above the bars for the "max" label.
const TOP: f64 = 18.0;

/// A bar chart of `bars` (label, value); each bar's tooltip says its label and value.
pub(super) fn bars(title: &str, bars: &[(String, f64)]) -> String {
    let mut svg = format!(
        r#"<figure class="chart"><figcaption>{}</figcaption><svg viewBox="0 0 {WIDTH} {}" role="img" aria-label="{}">"#,
        escape(title),
        TOP + HEIGHT + 20.0,
        escape(title),
    );
    let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let slot = WIDTH / bars.len().max(1) as f64;
    for (i, (label, value)) in bars.iter().enumerate() {
        let height = if max > 0.0 { value / max * HEIGHT } else { 0.0 };
        let x = i as f64 * slot;
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{height:.1}"><title>{}: {}</title></rect>"#,
            x + slot * 0.1,
            TOP + HEIGHT - height,
            slot * 0.8,
            escape(label),
            format_value(*value),
        );
    }
    if let (Some((first, _)), Some((last, _))) = (bars.first(), bars.last()) {
        let _ = write!(
            svg,
            r#"<text x="0" y="{y}" class="axis">{}</text><text x="{WIDTH}" y="{y}" class="axis end">{}</text>"#,
            escape(first),
            escape(last),
            y = TOP + HEIGHT + 15.0,
        );
    }
    let _ = write!(
        svg,
        r#"<text x="0" y="12" class="axis">max {}</text></svg></figure>"#,
        format_value(max)
    );
    svg
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
