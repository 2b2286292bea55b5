// Draws a udc mart page from the JSON the page carries: a map, a chart over categories,
// a trend over peildatums and a table. A hidden cell arrives as null with its _geheim
// flag and is drawn as "geheim", never as a number.
"use strict";

// plotly's geo charts load a world map from its CDN unless one is present; the pages draw
// their own outlines, so an empty one keeps them offline.
window.PlotlyGeoAssets = {
  topojson: { world_110m: { type: "Topology", objects: {}, arcs: [] } },
};

(function () {
  const D = JSON.parse(document.getElementById("udc-data").textContent);
  const G = JSON.parse(document.getElementById("udc-geo").textContent);
  const TOTAL = "totaal";
  const LEVELS = { buurt: "Buurten", wijk: "Wijken", gemeente: "Gemeente", regio: "Regio's" };
  const REASON =
    "Geheim: dit cijfer wordt niet gepubliceerd. Het is kleiner dan " + D.min_cell_size +
    ", of het is verborgen zodat zo'n klein aantal niet uit de andere cijfers terug te " +
    "rekenen is.";
  const HIDDEN_COLOUR = "#b8b8b8";
  const number = new Intl.NumberFormat("nl-NL", { maximumFractionDigits: 1 });
  const plotConfig = { displaylogo: false, responsive: true };
  const baseLayout = { separators: ",.", margin: { l: 50, r: 20, t: 10, b: 60 },
                       font: { family: "system-ui, sans-serif", size: 13 } };

  const state = { measure: D.measures[0].name, level: null, dims: {}, split: null, area: null };
  D.dimensions.forEach((d) => {
    state.dims[d.name] = d.values.includes(TOTAL) ? TOTAL : d.values[0];
  });
  if (D.dimensions.length) state.split = D.dimensions[0].name;
  const mapped = D.levels.filter((lv) => G[lv]);
  state.level = mapped[0] || D.levels[0];

  function label(name) {
    const text = name.replace(/_pct$/, " (%)").replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function escaped(text) {
    return String(text).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  }

  function measureOf(name) {
    return D.measures.find((m) => m.name === name);
  }

  // Cells by level, code and categories, once per set of cells.
  function indexOf(cells) {
    if (cells._index) return cells._index;
    const index = new Map();
    const n = cells.gebiedscode.length;
    for (let i = 0; i < n; i++) {
      const key = [cells.gebiedsniveau[i], cells.gebiedscode[i],
        ...D.dimensions.map((d) => cells[d.name][i])].join("|");
      index.set(key, i);
    }
    Object.defineProperty(cells, "_index", { value: index });
    return index;
  }

  // {found, hidden, value} of a measure in one cell. A count's null flag is a cell the
  // measure does not have; a derived share is withheld when a count of its row is hidden.
  function cell(cells, level, code, dims, measure) {
    const i = indexOf(cells).get([level, code, ...D.dimensions.map((d) => dims[d.name])].join("|"));
    const none = { found: false, hidden: false, value: null };
    if (i === undefined || !(measure.name in cells)) return none;
    const value = cells[measure.name][i];
    if (measure.hidden_flag) {
      const flag = cells[measure.hidden_flag][i];
      if (flag === null) return none;
      return { found: true, hidden: flag || value === null, value: flag ? null : value };
    }
    if (value !== null) return { found: true, hidden: false, value };
    const withheld = D.measures.some((m) => m.hidden_flag && cells[m.hidden_flag] &&
      cells[m.hidden_flag][i] === true);
    return withheld ? { found: true, hidden: true, value: null } : none;
  }

  function areas(level) {
    const seen = new Map();
    D.cells.gebiedsniveau.forEach((lv, i) => {
      if (lv === level && !seen.has(D.cells.gebiedscode[i])) {
        seen.set(D.cells.gebiedscode[i], D.cells.gebiedsnaam[i]);
      }
    });
    return [...seen.entries()].map(([code, name]) => ({ code, name }));
  }

  function levelOfArea(code) {
    const i = D.cells.gebiedscode.indexOf(code);
    return D.cells.gebiedsniveau[i];
  }

  function select(id, text, options, chosen, onChange) {
    const wrap = document.createElement("label");
    wrap.textContent = text + " ";
    const box = document.createElement("select");
    box.id = id;
    options.forEach(([value, shown]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = shown;
      if (value === chosen) option.selected = true;
      box.appendChild(option);
    });
    box.addEventListener("change", () => onChange(box.value));
    wrap.appendChild(box);
    document.getElementById("keuzes").appendChild(wrap);
    return box;
  }

  function controls() {
    select("maat", "Cijfer", D.measures.map((m) => [m.name, label(m.name)]), state.measure,
      (v) => { state.measure = v; render(); });
    select("niveau", "Gebieden", D.levels.map((lv) => [lv, LEVELS[lv]]), state.level,
      (v) => { state.level = v; render(); });
    D.dimensions.forEach((d) => {
      select("dim-" + d.name, label(d.name), d.values.map((v) => [v, v]), state.dims[d.name],
        (v) => { state.dims[d.name] = v; render(); });
    });
    if (D.dimensions.length > 1) {
      select("verdeel", "Grafiek naar", D.dimensions.map((d) => [d.name, label(d.name)]),
        state.split, (v) => { state.split = v; render(); });
    }
    const coarsest = D.levels[D.levels.length - 1];
    const options = [];
    [...D.levels].reverse().forEach((lv) => {
      areas(lv).forEach((a) => options.push([a.code, a.name + " (" + lv + ")"]));
    });
    state.area = areas(coarsest)[0].code;
    select("gebied", "Gebied", options, state.area, (v) => { state.area = v; render(); });
  }

  function drawMap(measure) {
    const panel = document.getElementById("kaart-paneel");
    const box = document.getElementById("kaart");
    const geo = G[state.level];
    document.getElementById("kaart-titel").textContent =
      label(measure.name) + " per " + state.level;
    if (!geo) {
      Plotly.purge(box);
      box.innerHTML = '<p class="none">Geen kaart: voor ' + LEVELS[state.level].toLowerCase() +
        " zijn geen gebiedsgrenzen ingesteld. De grafieken en de tabel tonen de cijfers.</p>";
      panel.classList.add("without-map");
      return;
    }
    panel.classList.remove("without-map");
    if (box.querySelector("p.none")) box.innerHTML = "";
    const shown = { locations: [], z: [], text: [] };
    const hidden = { locations: [], z: [], text: [] };
    areas(state.level).forEach((a) => {
      const c = cell(D.cells, state.level, a.code, state.dims, measure);
      if (!c.found) return;
      const target = c.hidden ? hidden : shown;
      target.locations.push(a.code);
      target.z.push(c.hidden ? 0 : c.value);
      target.text.push(a.name);
    });
    const common = { type: "choropleth", geojson: geo, featureidkey: "properties.code",
                     marker: { line: { color: "#ffffff", width: 1 } } };
    const traces = [
      Object.assign({}, common, shown, {
        name: label(measure.name),
        colorscale: [[0, "#eff3ff"], [0.5, "#6baed6"], [1, "#08519c"]],
        colorbar: { title: { text: label(measure.name) }, thickness: 14, separatethousands: true },
        hovertemplate: "<b>%{text}</b><br>" + label(measure.name) + ": %{z:,}<extra></extra>",
      }),
      Object.assign({}, common, hidden, {
        name: "geheim",
        colorscale: [[0, HIDDEN_COLOUR], [1, HIDDEN_COLOUR]],
        showscale: false,
        hovertemplate: "<b>%{text}</b><br>geheim<br>" + REASON.replace(/(.{1,60})(\s|$)/g, "$1<br>") +
          "<extra></extra>",
      }),
    ];
    const layout = Object.assign({}, baseLayout, {
      height: 460, margin: { l: 0, r: 0, t: 0, b: 0 },
      geo: { fitbounds: "locations", visible: false, projection: { type: "mercator" } },
    });
    Plotly.react(box, traces, layout, plotConfig);
    if (!box.dataset.clicks) {
      box.on("plotly_click", (event) => {
        const point = event.points && event.points[0];
        if (point && point.location) {
          state.area = point.location;
          document.getElementById("gebied").value = point.location;
          render();
        }
      });
      box.dataset.clicks = "1";
    }
  }

  function areaName(code) {
    return D.cells.gebiedsnaam[D.cells.gebiedscode.indexOf(code)];
  }

  // A value axis from zero; whole numbers for counts, and room for at least the minimum
  // cell size, so that a chart of hidden cells and zeros has no fractional ticks.
  function valueAxis(measure, values) {
    const top = Math.max(0, ...values.filter((v) => v !== null));
    const axis = { rangemode: "tozero", separatethousands: true };
    if (measure.kind !== "derived") axis.tickformat = ",d";
    if (measure.kind !== "derived" && top < D.min_cell_size) axis.range = [0, D.min_cell_size];
    return axis;
  }

  function drawCategories(measure) {
    const box = document.getElementById("categorieen");
    const level = levelOfArea(state.area);
    const x = [], y = [], notes = [];
    let title;
    if (state.split) {
      const dim = D.dimensions.find((d) => d.name === state.split);
      title = label(measure.name) + " naar " + label(dim.name).toLowerCase() + ", " + areaName(state.area);
      dim.values.filter((v) => v !== TOTAL).forEach((v) => {
        const dims = Object.assign({}, state.dims, { [dim.name]: v });
        const c = cell(D.cells, level, state.area, dims, measure);
        if (!c.found) return;
        x.push(v);
        y.push(c.hidden ? null : c.value);
        if (c.hidden) notes.push(v);
      });
    } else {
      title = label(measure.name) + " per " + state.level;
      areas(state.level).forEach((a) => {
        const c = cell(D.cells, state.level, a.code, state.dims, measure);
        if (!c.found) return;
        x.push(a.name);
        y.push(c.hidden ? null : c.value);
        if (c.hidden) notes.push(a.name);
      });
    }
    document.getElementById("categorie-titel").textContent = title;
    const layout = Object.assign({}, baseLayout, {
      height: 360,
      xaxis: { type: "category", automargin: true },
      yaxis: valueAxis(measure, y),
      annotations: notes.map((v) => ({ x: v, y: 0, yref: "y", text: "geheim", showarrow: false,
        textangle: -90, yanchor: "bottom", font: { color: "#555555" },
        hovertext: REASON, bgcolor: "#eeeeee" })),
    });
    Plotly.react(box, [{ type: "bar", x, y, marker: { color: "#3182bd" },
      hovertemplate: "%{x}: %{y:,}<extra></extra>" }], layout, plotConfig);
  }

  function drawTrend(measure) {
    const box = document.getElementById("trend");
    const level = levelOfArea(state.area);
    const x = [], y = [], secret = [];
    D.trend.forEach((t) => {
      const c = cell(t.cells, level, state.area, state.dims, measure);
      if (!c.found) return;
      x.push(t.peildatum);
      y.push(c.hidden ? null : c.value);
      if (c.hidden) secret.push(t.peildatum);
    });
    document.getElementById("trend-titel").textContent =
      label(measure.name) + " per peildatum, " + areaName(state.area) +
      (D.trend.length === 1 ? " (nog één peildatum gepubliceerd)" : "");
    const layout = Object.assign({}, baseLayout, {
      height: 300,
      xaxis: { type: "category" },
      yaxis: valueAxis(measure, y),
      annotations: secret.map((p) => ({ x: p, y: 0, text: "geheim", showarrow: false,
        yanchor: "bottom", hovertext: REASON, bgcolor: "#eeeeee" })),
    });
    Plotly.react(box, [{ type: "scatter", mode: "lines+markers", x, y, connectgaps: false,
      line: { color: "#08519c" }, hovertemplate: "%{x}: %{y:,}<extra></extra>" }],
    layout, plotConfig);
  }

  function drawTable() {
    const table = document.getElementById("tabel");
    const head = "<thead><tr><th>Gebied</th><th>Code</th>" +
      D.measures.map((m) => "<th>" + escaped(label(m.name)) + "</th>").join("") + "</tr></thead>";
    const rows = areas(state.level).map((a) => {
      const cells = D.measures.map((m) => {
        const c = cell(D.cells, state.level, a.code, state.dims, m);
        if (!c.found) return "<td></td>";
        if (c.hidden) return '<td class="num"><span class="geheim" title="' + escaped(REASON) + '">geheim</span></td>';
        return '<td class="num">' + number.format(c.value) + "</td>";
      });
      return "<tr><td>" + escaped(a.name) + '</td><td class="code">' + escaped(a.code) + "</td>" +
        cells.join("") + "</tr>";
    });
    table.innerHTML = head + "<tbody>" + rows.join("") + "</tbody>";
  }

  function render() {
    const measure = measureOf(state.measure);
    drawMap(measure);
    drawCategories(measure);
    drawTrend(measure);
    drawTable();
    document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
  }

  controls();
  document.getElementById("uitleg").textContent = REASON +
    (D.protection === "cell_key" ? " Deze mart is niet onderdrukt maar licht verstoord." : "");
  render();
})();
