//! Admin: the platform's figures over a period. Calls and minutes per hour or day, money per
//! day (revenue, cost, margin; top-ups and charges), carriers' quality and the top
//! destinations. Charts are inline SVG drawn here: geometry in floats, every label from integers
//! (money is never a float).

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use protocol::api;

use super::{
    FieldError,
    admin::{AdminNav, need_admin},
    has_field_error, mmss, when,
};
use crate::{api as rest, api::ApiError, session::Auth};

/// Seconds as minutes with one decimal (`1.5`), from integers.
fn minutes(secs: u64) -> String {
    let tenths = (secs * 10 + 30) / 60;
    deci(i64::try_from(tenths).unwrap_or(i64::MAX))
}

/// Tenths as text: `15` is `1.5`, `20` is `2`.
fn deci(tenths: i64) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    let t = tenths.unsigned_abs();
    if t.is_multiple_of(10) { format!("{sign}{}", t / 10) } else { format!("{sign}{}.{}", t / 10, t % 10) }
}

fn permille(p: Option<u16>) -> String {
    p.map_or_else(|| "–".into(), |p| format!("{}.{}%", p / 10, p % 10))
}

#[component]
pub fn StatsPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let bucket = RwSignal::new("day".to_string());
    let data: RwSignal<Option<api::Stats>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let busy = RwSignal::new(false);

    let load = move |q: api::StatsQuery| {
        busy.set(true);
        spawn_local(async move {
            match auth.call(|t| rest::stats(t, q.clone())).await {
                Ok(s) => {
                    data.set(Some(s));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    // The server's defaults: the last 7 days, per day.
    load(api::StatsQuery::default());
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let text = |s: RwSignal<String>| Some(s.get_untracked().trim().to_string()).filter(|s| !s.is_empty());
        load(api::StatsQuery { from: text(from), to: text(to), bucket: text(bucket) });
    };

    view! {
        <AdminNav/>
        <section class="card stats-page">
            <h1>"Statistics"</h1>
            <form class="filters stats-filters" id="stats-form" novalidate on:submit=submit>
                <label class="field">
                    <span>"From (UTC)"</span>
                    <input type="date" id="stats-from" name="from" class:invalid=has_field_error(error, "from") bind:value=from/>
                    <FieldError error name="from" id="stats-from-error" label="From"/>
                </label>
                <label class="field">
                    <span>"To (UTC, included)"</span>
                    <input type="date" id="stats-to" name="to" class:invalid=has_field_error(error, "to") bind:value=to/>
                    <FieldError error name="to" id="stats-to-error" label="To"/>
                </label>
                <label class="field">
                    <span>"Per"</span>
                    <select id="stats-bucket" name="bucket" class:invalid=has_field_error(error, "bucket")
                        on:change=move |ev| bucket.set(event_target_value(&ev))>
                        <option value="day" prop:selected=move || bucket.get() == "day">"Day"</option>
                        <option value="hour" prop:selected=move || bucket.get() == "hour">"Hour"</option>
                    </select>
                    <FieldError error name="bucket" id="stats-bucket-error" label="Bucket"/>
                </label>
                <div class="form-actions">
                    <button type="submit" class="primary" id="stats-load" disabled=move || busy.get()>"Show"</button>
                </div>
            </form>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="stats-error">{e.message}</div> })}
            {move || data.get().map(|s| view! {
                <p class="muted" id="stats-period">
                    {format!("{} to {} (UTC), per {}.", when(&s.from), when(&s.to), s.bucket)}
                </p>
                <Totals t=s.totals/>
            })}
        </section>
        {move || data.get().map(|s| {
            let hourly = s.bucket == "hour";
            let bucket_labels: Vec<String> = s
                .series
                .iter()
                .map(|b| if hourly { format!("{} {}", b.at.get(5..10).unwrap_or(""), b.at.get(11..16).unwrap_or("")) } else { b.at.get(5..10).unwrap_or("").to_string() })
                .collect();
            let day_labels: Vec<String> = s.days.iter().map(|d| d.day.get(5..).unwrap_or(&d.day).to_string()).collect();
            let per = if hourly { "hour" } else { "day" };
            let count = |f: fn(&api::StatsBucket) -> u64| s.series.iter().map(|b| i64::try_from(f(b)).unwrap_or(i64::MAX)).collect::<Vec<_>>();
            let money = |f: fn(&api::MoneyDay) -> i64| s.days.iter().map(f).collect::<Vec<_>>();
            let tenths = s.series.iter().map(|b| i64::try_from((b.seconds * 10 + 30) / 60).unwrap_or(i64::MAX)).collect::<Vec<_>>();
            view! {
                <section class="card charts">
                    <Chart id="chart-calls" title=if hourly { "Calls per hour" } else { "Calls per day" }
                        y_label="Calls" x_label=if hourly { "Hour (UTC)" } else { "Day (UTC)" } unit=Unit::Count
                        labels=bucket_labels.clone() max_labels=if hourly { 8 } else { 12 }
                        series=vec![
                            Series { name: "Calls", class: "calls", color: "#9aa9c7", values: count(|b| b.calls), line: false },
                            Series { name: "Answered", class: "answered", color: "#2e9e5b", values: count(|b| b.answered), line: false },
                        ]/>
                    <Chart id="chart-minutes" title=if hourly { "Billable minutes per hour" } else { "Billable minutes per day" }
                        y_label="Minutes" x_label=if hourly { "Hour (UTC)" } else { "Day (UTC)" } unit=Unit::Minutes
                        labels=bucket_labels max_labels=if hourly { 8 } else { 12 }
                        series=vec![Series { name: "Minutes", class: "minutes", color: "#2459d6", values: tenths, line: true }]/>
                    <p class="hint">{format!("Calls by the {per} they started in; minutes are what was billed for them.")}</p>
                </section>
                <section class="card charts">
                    <Chart id="chart-money" title="Revenue, cost and margin per day" y_label="Amount" x_label="Day (UTC)"
                        unit=Unit::Money labels=day_labels.clone() max_labels=12
                        series=vec![
                            Series { name: "Revenue", class: "revenue", color: "#2459d6", values: money(|d| d.revenue_micros), line: false },
                            Series { name: "Cost", class: "cost", color: "#e08a2e", values: money(|d| d.cost_micros), line: false },
                            Series { name: "Margin", class: "margin", color: "#2e9e5b", values: money(|d| d.margin_micros), line: false },
                        ]/>
                    <Chart id="chart-topups" title="Money in (top-ups, adjustments) and call charges per day" y_label="Amount" x_label="Day (UTC)"
                        unit=Unit::Money labels=day_labels max_labels=12
                        series=vec![
                            Series { name: "Top-ups", class: "topups", color: "#7b5cd6", values: money(|d| d.topups_micros), line: false },
                            Series { name: "Adjustments", class: "adjustments", color: "#5cb3d6", values: money(|d| d.adjustments_micros), line: false },
                            Series { name: "Charges", class: "charges", color: "#e08a2e", values: money(|d| d.charges_micros), line: false },
                        ]/>
                    <p class="hint">"Revenue is what callers were charged for the calls started that day, cost what carriers charge for them. Top-ups are card payments net of refunds and disputes, adjustments administrators' credits less debits; charges are call charges posted to balances."</p>
                </section>
                <section class="card">
                    <h2>"Carriers"</h2>
                    <CarrierTable rows=s.carriers.clone()/>
                </section>
                <section class="card">
                    <h2>"Top destinations"</h2>
                    <DestinationTable rows=s.destinations.clone()/>
                </section>
            }
        })}
    }
    .into_any()
}

#[component]
fn Totals(t: api::StatsTotals) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="users totals" id="stats-totals">
                <thead><tr>
                    <th>"Calls"</th><th>"Answered"</th><th>"Minutes"</th><th>"Revenue"</th><th>"Cost"</th>
                    <th>"Margin"</th><th>"Top-ups"</th><th>"Adjustments"</th><th>"Charges"</th>
                </tr></thead>
                <tbody><tr class="totals-row">
                    <td class="calls" data-value=t.calls>{t.calls}</td>
                    <td class="answered" data-value=t.answered>{t.answered}</td>
                    <td class="minutes" data-seconds=t.seconds>{minutes(t.seconds)}</td>
                    <td class="revenue money" data-value=t.revenue_micros>{rest::money(t.revenue_micros)}</td>
                    <td class="cost money" data-value=t.cost_micros>{rest::money(t.cost_micros)}</td>
                    <td class="margin money" class:negative=t.margin_micros < 0 data-value=t.margin_micros>{rest::money(t.margin_micros)}</td>
                    <td class="topups money" data-value=t.topups_micros>{rest::money(t.topups_micros)}</td>
                    <td class="adjustments money" data-value=t.adjustments_micros>{rest::money(t.adjustments_micros)}</td>
                    <td class="charges money" data-value=t.charges_micros>{rest::money(t.charges_micros)}</td>
                </tr></tbody>
            </table>
        </div>
    }
}

#[component]
fn CarrierTable(rows: Vec<api::CarrierStats>) -> impl IntoView {
    let empty = rows.is_empty();
    view! {
        <div class="table-wrap">
            <table class="users" id="stats-carriers">
                <thead><tr><th>"Carrier"</th><th>"Attempts"</th><th>"Answered"</th><th>"ASR"</th><th>"ACD"</th><th>"PDD"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|c| view! {
                        <tr class="carrier-stats" data-carrier=c.carrier_name.clone() data-carrier-id=c.carrier_id.unwrap_or_default()>
                            <td class="name">{c.carrier_name.clone()}</td>
                            <td class="attempts num">{c.attempts}</td>
                            <td class="answered num">{c.answered}</td>
                            <td class="asr num">{permille(c.asr_permille)}</td>
                            <td class="acd num">{c.acd_secs.map_or_else(|| "–".into(), |s| mmss(s.max(0).unsigned_abs()))}</td>
                            <td class="pdd num">{c.pdd_ms.map_or_else(|| "–".into(), |ms| format!("{ms} ms"))}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {empty.then(|| view! { <p class="muted" id="stats-carriers-empty">"No carrier attempts in this period."</p> })}
    }
}

#[component]
fn DestinationTable(rows: Vec<api::DestinationStats>) -> impl IntoView {
    let empty = rows.is_empty();
    view! {
        <div class="table-wrap">
            <table class="users" id="stats-destinations">
                <thead><tr>
                    <th>"Prefix"</th><th>"Calls"</th><th>"Answered"</th><th>"Minutes"</th>
                    <th>"Revenue"</th><th>"Cost"</th><th>"Margin"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|d| view! {
                        <tr class="destination-stats" data-prefix=d.prefix.clone()>
                            <td class="prefix">{format!("+{}", d.prefix.trim_start_matches('+'))}</td>
                            <td class="calls num">{d.calls}</td>
                            <td class="answered num">{d.answered}</td>
                            <td class="minutes num">{minutes(d.seconds)}</td>
                            <td class="revenue money">{rest::money(d.revenue_micros)}</td>
                            <td class="cost money">{rest::money(d.cost_micros)}</td>
                            <td class="margin money" class:negative=d.margin_micros < 0>{rest::money(d.margin_micros)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {empty.then(|| view! { <p class="muted" id="stats-destinations-empty">"No calls to phone numbers in this period."</p> })}
    }
}

/// What a chart's values are, for its ticks and tooltips.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Count,
    /// Tenths of a minute.
    Minutes,
    /// Micro-units.
    Money,
}

impl Unit {
    fn text(self, v: i64) -> String {
        match self {
            Unit::Count => v.to_string(),
            Unit::Minutes => deci(v),
            Unit::Money => rest::money(v),
        }
    }

    /// The smallest tick step: one call, a tenth of a minute, a cent.
    fn min_step(self) -> i64 {
        match self {
            Unit::Count | Unit::Minutes => 1,
            Unit::Money => 10_000,
        }
    }

    /// The axis shown when every value is zero.
    fn empty_span(self) -> i64 {
        match self {
            Unit::Count => 4,
            Unit::Minutes => 10,
            Unit::Money => 1_000_000,
        }
    }
}

/// One series of a chart: bars, or a line over them.
#[derive(Clone)]
struct Series {
    name: &'static str,
    class: &'static str,
    color: &'static str,
    values: Vec<i64>,
    line: bool,
}

/// A tick step of 1, 2 or 5 times a power of ten, about a quarter of `span`.
fn nice_step(span: i64, min_step: i64) -> i64 {
    let raw = (span.max(1) + 3) / 4;
    let mut p = 1i64;
    while p.saturating_mul(10) <= raw {
        p = p.saturating_mul(10);
    }
    let step = [1, 2, 5, 10].into_iter().map(|m| p.saturating_mul(m)).find(|s| *s >= raw).unwrap_or(raw);
    step.max(min_step)
}

/// The axis: from a tick at or below every value (and zero) to one at or above.
fn axis(series: &[Series], unit: Unit) -> (i64, i64, i64) {
    let all = series.iter().flat_map(|s| s.values.iter().copied());
    let lo = all.clone().min().unwrap_or(0).min(0);
    let mut hi = all.max().unwrap_or(0).max(0);
    if hi == lo {
        hi = lo + unit.empty_span();
    }
    let step = nice_step(hi.saturating_sub(lo), unit.min_step());
    let bottom = lo.div_euclid(step) * step;
    let top = -(-hi).div_euclid(step) * step;
    (bottom, top.max(bottom + step), step)
}

/// Which buckets get a label: every first, then every k-th, k a round number of hours or days
/// (1, 2, 3, 6, 12, 24, 48, …) so that at most `max` are labelled.
fn label_every(n: usize, max: usize) -> usize {
    let want = n.div_ceil(max.max(1)).max(1);
    [1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336].into_iter().find(|k| *k >= want).unwrap_or(want)
}

const W: f64 = 900.0;
const H: f64 = 300.0;
const LEFT: f64 = 76.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 62.0;
const BOTTOM: f64 = 46.0;

fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A bar chart with lines over it: title, legend, value axis with grid lines, labelled buckets.
#[component]
fn Chart(
    id: &'static str,
    title: &'static str,
    y_label: &'static str,
    x_label: &'static str,
    unit: Unit,
    labels: Vec<String>,
    max_labels: usize,
    series: Vec<Series>,
) -> impl IntoView {
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = labels.len();
    let (bottom, top, step) = axis(&series, unit);
    let span = (top - bottom) as f64;
    let y = move |v: i64| r1(TOP + plot_h * (top - v) as f64 / span);
    let slot = plot_w / n.max(1) as f64;
    let bars: Vec<&Series> = series.iter().filter(|s| !s.line).collect();
    let group = (slot * 0.8).min(38.0 * bars.len() as f64);
    let bar_w = group / bars.len().max(1) as f64;
    let every = label_every(n, max_labels);

    let ticks = {
        let mut t = vec![];
        let mut v = bottom;
        while v <= top {
            t.push(v);
            v += step;
        }
        t
    };
    let grid = ticks
        .into_iter()
        .map(|v| {
            let yy = y(v);
            view! {
                <line x1=LEFT x2=LEFT + plot_w y1=yy y2=yy class=if v == 0 { "axis-zero" } else { "grid" }
                    stroke=if v == 0 { "#7d8799" } else { "#e3e7ee" } stroke-width="1"/>
                <text x=LEFT - 8.0 y=yy + 4.0 text-anchor="end" font-size="11" fill="#5f6b80">{unit.text(v)}</text>
            }
        })
        .collect_view();
    let x_ticks = labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, l)| {
            let x = r1(LEFT + slot * (i as f64 + 0.5));
            view! {
                <line x1=x x2=x y1=TOP + plot_h y2=TOP + plot_h + 4.0 stroke="#7d8799" stroke-width="1"/>
                <text x=x y=TOP + plot_h + 17.0 text-anchor="middle" font-size="11" fill="#5f6b80">{l.clone()}</text>
            }
        })
        .collect_view();
    let bar_views = bars
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let rects = s
                .values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let (y0, yv) = (y(0), y(v));
                    let h = (y0 - yv).abs().max(if v == 0 { 0.0 } else { 1.0 });
                    let x = r1(LEFT + slot * i as f64 + (slot - group) / 2.0 + bar_w * j as f64);
                    let tip = format!("{} · {}: {}", labels.get(i).cloned().unwrap_or_default(), s.name, unit.text(v));
                    view! {
                        <rect x=x y=y0.min(yv) width=r1((bar_w - 1.0).max(1.0)) height=r1(h) fill=s.color data-value=v>
                            <title>{tip}</title>
                        </rect>
                    }
                })
                .collect_view();
            view! { <g class=format!("series bars {}", s.class) data-series=s.name>{rects}</g> }
        })
        .collect_view();
    let line_views = series
        .iter()
        .filter(|s| s.line)
        .map(|s| {
            let points: Vec<(f64, f64, i64)> =
                s.values.iter().enumerate().map(|(i, &v)| (r1(LEFT + slot * (i as f64 + 0.5)), y(v), v)).collect();
            let path = points.iter().map(|(x, yy, _)| format!("{x},{yy}")).collect::<Vec<_>>().join(" ");
            // The area under the line, down to zero, lightly shaded.
            let area = match (points.first(), points.last()) {
                (Some((x0, _, _)), Some((x1, _, _))) => format!("{x0},{} {path} {x1},{}", y(0), y(0)),
                _ => String::new(),
            };
            let dots = (n <= 62).then(|| {
                points
                    .iter()
                    .enumerate()
                    .map(|(i, (x, yy, v))| {
                        let tip =
                            format!("{} · {}: {}", labels.get(i).cloned().unwrap_or_default(), s.name, unit.text(*v));
                        view! { <circle cx=*x cy=*yy r="3.5" fill=s.color data-value=*v><title>{tip}</title></circle> }
                    })
                    .collect_view()
            });
            view! {
                <g class=format!("series line {}", s.class) data-series=s.name>
                    <polygon points=area fill=s.color fill-opacity="0.1" stroke="none"/>
                    <polyline points=path fill="none" stroke=s.color stroke-width="2.5" stroke-linejoin="round"/>
                    {dots}
                </g>
            }
        })
        .collect_view();
    // The legend, left to right under the title.
    let mut lx = LEFT;
    let legend = series
        .iter()
        .map(|s| {
            let x = lx;
            lx += 34.0 + 7.5 * s.name.len() as f64;
            let swatch = if s.line {
                view! { <line x1=x y1=40.0 x2=x + 16.0 y2=40.0 stroke=s.color stroke-width="3"/> }.into_any()
            } else {
                view! { <rect x=x y=34.0 width="14" height="12" rx="2" fill=s.color/> }.into_any()
            };
            view! {
                <g class="legend-item">
                    {swatch}
                    <text x=x + 20.0 y=44.5 font-size="12" fill="#1d2433">{s.name}</text>
                </g>
            }
        })
        .collect_view();

    view! {
        <figure class="chart-box">
            <svg id=id class="chart stats-chart" width=W height=H viewBox=format!("0 0 {W} {H}") role="img"
                aria-label=title data-buckets=n xmlns="http://www.w3.org/2000/svg">
                <text x=LEFT y=20.0 font-size="15" font-weight="600" fill="#1d2433" class="chart-title">{title}</text>
                {legend}
                {grid}
                <line x1=LEFT x2=LEFT y1=TOP y2=TOP + plot_h stroke="#7d8799" stroke-width="1"/>
                {x_ticks}
                {bar_views}
                {line_views}
                {(n == 0).then(|| view! {
                    <text x=LEFT + plot_w / 2.0 y=TOP + plot_h / 2.0 text-anchor="middle" font-size="13" fill="#5f6b80">
                        "No data in this period."
                    </text>
                })}
                <text x=LEFT + plot_w / 2.0 y=H - 6.0 text-anchor="middle" font-size="12" fill="#5f6b80" class="axis-label">{x_label}</text>
                <text x="16" y=TOP + plot_h / 2.0 text-anchor="middle" font-size="12" fill="#5f6b80" class="axis-label"
                    transform=format!("rotate(-90 16 {})", TOP + plot_h / 2.0)>{y_label}</text>
            </svg>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_nice() {
        assert_eq!(nice_step(4, 1), 1);
        assert_eq!(nice_step(7, 1), 2);
        assert_eq!(nice_step(37, 1), 10);
        assert_eq!(nice_step(12_500_000, 10_000), 5_000_000);
        assert_eq!(nice_step(0, 10_000), 10_000);
    }

    fn bars(values: Vec<i64>) -> Vec<Series> {
        vec![Series { name: "x", class: "x", color: "#000", values, line: false }]
    }

    #[test]
    fn axes_cover_the_values_and_zero() {
        // Nothing to show: a default span, no division by zero.
        assert_eq!(axis(&bars(vec![]), Unit::Count), (0, 4, 1));
        assert_eq!(axis(&bars(vec![0, 0]), Unit::Money), (0, 1_000_000, 500_000));
        assert_eq!(axis(&bars(vec![3, 17]), Unit::Count), (0, 20, 5));
        assert_eq!(axis(&bars(vec![-1_500_000, 25_100_000]), Unit::Money), (-10_000_000, 30_000_000, 10_000_000));
    }

    #[test]
    fn labels_fall_on_round_buckets() {
        assert_eq!(label_every(7, 12), 1);
        assert_eq!(label_every(72, 8), 12);
        assert_eq!(label_every(168, 8), 24);
        assert_eq!(label_every(0, 8), 1);
    }

    #[test]
    fn tenths() {
        assert_eq!(minutes(90), "1.5");
        assert_eq!(minutes(120), "2");
        assert_eq!(deci(-15), "-1.5");
    }
}
