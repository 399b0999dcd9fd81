//! The throughput rows as SVG bar charts: the single-log engine rows, each
//! system's rate relative to the faster raw-disk loop of that row (1.0 =
//! the raw limit), and the many-groups rows, each system's durable
//! appends/s relative to raft-engine's in that row (1.0 = raft-engine).
//! Every bar is labelled with its absolute rate.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::multi;
use crate::report::{self, ENGINE_ROWS, Results};

/// The engine chart's systems and their colours.
const SYSTEMS: [(&str, RGBColor); 3] = [
    ("chunklog", RGBColor(31, 119, 180)),
    ("raft-log", RGBColor(255, 127, 14)),
    ("raft-engine", RGBColor(44, 160, 44)),
];

/// The colours of [`multi::SYSTEMS`] in the groups chart: chunklog's two
/// setups in blues, the peers as in the engine chart.
const GROUP_COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(158, 198, 230), RGBColor(44, 160, 44), RGBColor(255, 127, 14)];

/// One row of bars: its label and, per system, (rate relative to the row's
/// reference, absolute rate).
type Row = (String, Vec<Option<(f64, f64)>>);

/// Writes the chart of the engine table's throughput rows to `path`.
pub fn write_svg(r: &Results, path: &Path, title: &str) -> Result<()> {
    let rows: Vec<Row> = ENGINE_ROWS
        .iter()
        .filter(|row| row.throughput)
        .filter_map(|row| {
            let limit = ["raw", "raw-prezeroed"]
                .iter()
                .filter_map(|s| r.value(row.workload, s, row.key))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
            let bars = SYSTEMS.iter().map(|(s, _)| r.value(row.workload, s, row.key).map(|v| (v / limit, v))).collect();
            Some((row.label.to_string(), bars))
        })
        .collect();
    if rows.is_empty() {
        return Err(anyhow!("no throughput row has a raw limit to compare with"));
    }
    let x_desc = "rate / the row's faster raw-disk loop (1.0 = raw limit); labels: the rate in the row's unit";
    draw(path, title, x_desc, &SYSTEMS, &rows)
}

/// Where the groups chart of the engine chart at `svg` goes:
/// `<stem>-groups.svg` next to it.
pub fn groups_path(svg: &Path) -> PathBuf {
    let stem = svg.file_stem().map_or_else(|| "bench".into(), |s| s.to_string_lossy());
    svg.with_file_name(format!("{stem}-groups.svg"))
}

/// Writes the chart of the many-groups throughput rows, one per (G,
/// driver) that raft-engine ran, to `path`.
pub fn write_groups_svg(r: &Results, path: &Path, title: &str) -> Result<()> {
    let rows: Vec<Row> = multi::ALL_COUNTS
        .iter()
        .flat_map(|&g| multi::DRIVERS.iter().map(move |&(d, name)| (g, d, name)))
        .filter_map(|(g, d, name)| {
            let w = multi::workload(g, d);
            let base = r.value(&w, "raft-engine", "g.ops").filter(|&v| v > 0.0)?;
            let bars = multi::SYSTEMS.iter().map(|(s, _)| r.value(&w, s, "g.ops").map(|v| (v / base, v))).collect();
            let groups = if g < 1000 { g.to_string() } else { report::num(g as f64) };
            Some((format!("{groups} group{}, {name}", if g == 1 { "" } else { "s" }), bars))
        })
        .collect();
    if rows.is_empty() {
        return Err(anyhow!("no groups row has a raft-engine rate to compare with"));
    }
    let systems: Vec<(&str, RGBColor)> = multi::SYSTEMS.iter().map(|&(_, title)| title).zip(GROUP_COLORS).collect();
    let x_desc = "durable appends/s / raft-engine's in the row (1.0 = raft-engine); labels: appends/s";
    draw(path, title, x_desc, &systems, &rows)
}

/// Draws `rows` as horizontal bars, one per system of `systems` (name,
/// colour), with a line at 1.0 (the reference) and the legend in a band
/// above the rows, to `path`.
fn draw(path: &Path, title: &str, x_desc: &str, systems: &[(&str, RGBColor)], rows: &[Row]) -> Result<()> {
    let n = rows.len();
    let x_max = rows
        .iter()
        .flat_map(|(_, b)| b.iter().flatten().map(|(q, _)| *q))
        .fold(1.0f64, f64::max)
        .mul_add(1.45, 0.0)
        .max(1.5);
    // Row i spans 1 unit; its bars go down from 0.85 in it, `step` apart.
    let step = 0.75 / systems.len() as f64;
    let top = |i: usize, k: usize| (n - 1 - i) as f64 + 0.85 - k as f64 * step;

    let row_px = 10 + 12 * systems.len() as u32;
    // The legend's band above the rows: about 15 px per system, its frame and a gap.
    let legend_px = 15 * systems.len() as u32 + 20;
    let band = legend_px as f64 / row_px as f64;
    let height = 90 + row_px * n as u32 + legend_px;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(390)
        .build_cartesian_2d(0f64..x_max, 0f64..n as f64 + band)
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(0)
        .x_desc(x_desc)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    // Row labels, right-aligned against the plot's left edge.
    let style = TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, (label, _)) in rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, (n - 1 - i) as f64 + 0.5));
        root.draw_text(label, &style, (x - 8, y)).map_err(|e| anyhow!("{e:?}"))?;
    }

    for (k, &(name, color)) in systems.iter().enumerate() {
        let bars = rows.iter().enumerate().filter_map(|(i, (_, b))| {
            let (q, _) = b[k]?;
            Some(Rectangle::new([(0.0, top(i, k) - step * 0.88), (q, top(i, k))], color.filled()))
        });
        chart
            .draw_series(bars)
            .map_err(|e| anyhow!("{e:?}"))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        let texts = rows.iter().enumerate().filter_map(|(i, (_, b))| {
            let (q, v) = b[k]?;
            Some(Text::new(format!(" {}", report::num(v)), (q, top(i, k) - 0.02), ("sans-serif", 11)))
        });
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
