//! The throughput rows as an SVG bar chart: each system's rate relative to
//! the faster raw-disk loop of that row (1.0 = the raw limit).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{self, ENGINE_ROWS, Results};

const SYSTEMS: [(&str, RGBColor); 3] = [
    ("chunklog", RGBColor(31, 119, 180)),
    ("raft-log", RGBColor(255, 127, 14)),
    ("raft-engine", RGBColor(44, 160, 44)),
];

/// Per system: (rate relative to the raw limit, absolute rate).
type Bars = Vec<Option<(f64, f64)>>;

/// Writes the chart of the engine table's throughput rows to `path`.
pub fn write_svg(r: &Results, path: &Path, title: &str) -> Result<()> {
    let rows: Vec<(&str, Bars)> = ENGINE_ROWS
        .iter()
        .filter(|row| row.throughput)
        .filter_map(|row| {
            let limit = ["raw", "raw-prezeroed"]
                .iter()
                .filter_map(|s| r.value(row.workload, s, row.key))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
            let bars = SYSTEMS.iter().map(|(s, _)| r.value(row.workload, s, row.key).map(|v| (v / limit, v))).collect();
            Some((row.label, bars))
        })
        .collect();
    if rows.is_empty() {
        return Err(anyhow!("no throughput row has a raw limit to compare with"));
    }
    let n = rows.len();
    let x_max = rows
        .iter()
        .flat_map(|(_, b)| b.iter().flatten().map(|(q, _)| *q))
        .fold(1.0f64, f64::max)
        .mul_add(1.45, 0.0)
        .max(1.5);

    let height = 90 + 46 * n as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(390)
        .build_cartesian_2d(0f64..x_max, 0f64..n as f64)
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(0)
        .x_desc("throughput relative to the raw-disk loop (1.0 = raw limit)")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    // Row labels, right-aligned against the plot's left edge.
    let style = TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, (label, _)) in rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, (n - 1 - i) as f64 + 0.5));
        root.draw_text(label, &style, (x - 8, y)).map_err(|e| anyhow!("{e:?}"))?;
    }

    for (k, (name, color)) in SYSTEMS.iter().enumerate() {
        let bars: Vec<_> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (_, b))| {
                let (q, _) = b[k]?;
                let top = (n - 1 - i) as f64 + 0.85 - k as f64 * 0.25;
                Some(Rectangle::new([(0.0, top - 0.22), (q, top)], color.filled()))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(|e| anyhow!("{e:?}"))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        let texts: Vec<_> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (_, b))| {
                let (q, v) = b[k]?;
                let top = (n - 1 - i) as f64 + 0.85 - k as f64 * 0.25;
                Some(Text::new(format!(" {}", report::num(v)), (q, top - 0.02), ("sans-serif", 11)))
            })
            .collect();
        chart.draw_series(texts).map_err(|e| anyhow!("{e:?}"))?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(1.0, 0.0), (1.0, n as f64)], BLACK.stroke_width(1))))
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}
