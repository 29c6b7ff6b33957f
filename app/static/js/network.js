// Draws a Prexus network with vis-network.
//
// The data comes from the JSON block #network-data (the Content-Security-Policy forbids
// inline script) and from /api/network when a node is expanded. Every text from the store
// (posting titles are scraped from the web and hostile) reaches the DOM only through
// textContent, tooltips included: vis-network gets DOM elements, never HTML strings.
(function () {
  "use strict";

  var dataBlock = document.getElementById("network-data");
  var container = document.getElementById("network");
  if (!dataBlock || !container || !window.vis) {
    return;
  }
  var payload = JSON.parse(dataBlock.textContent);
  var styles = payload.styles;
  // A drawing that is not a neighbourhood (the routes page's country flows) is not expanded.
  var expandable = payload.expandable !== false;
  // A snapshot brings the positions its nodes had: drawn there, and left still.
  var positions = payload.positions || {};
  var frozen = Object.keys(positions).length > 0;
  var records = new Map(); // node id -> the API's node record
  var edgeRecords = new Map(); // edge id -> the API's edge record
  var nodes = new window.vis.DataSet();
  var edges = new window.vis.DataSet();
  var details = document.getElementById("node-details");
  var counts = document.getElementById("network-counts");
  var legend = document.getElementById("legend");

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function shorten(text, size) {
    text = String(text);
    return text.length > size ? text.slice(0, size - 1) + "\u2026" : text;
  }

  function display(value) {
    if (Array.isArray(value)) {
      return value.join(", ");
    }
    if (value === true) {
      return "yes";
    }
    if (value === false) {
      return "no";
    }
    return value === null || value === undefined ? "" : String(value);
  }

  function entityUrl(record) {
    return "/entity/" + encodeURIComponent(record.label) + "/" + encodeURIComponent(record.key);
  }

  function styleOf(label) {
    return styles[label] || { color: "#97c2fc", shape: "dot" };
  }

  function tooltip(record) {
    var box = el("div", null, "tip");
    box.appendChild(el("strong", record.label));
    box.appendChild(el("div", shorten(record.caption, 200)));
    if (record.provenance && record.provenance.first_seen) {
      box.appendChild(el("div", "seen " + record.provenance.first_seen, "muted"));
    }
    return box;
  }

  function visNode(record, near) {
    var kind = styleOf(record.label);
    // a record may carry its own style (the routes page draws countries as sized dots)
    var style = { color: record.color || kind.color, shape: record.shape || kind.shape };
    var item = {
      id: record.id,
      label: shorten(record.caption, 28),
      title: tooltip(record),
      shape: style.shape,
      color: { background: style.color, border: record.seed ? "#1f2933" : style.color,
               highlight: { background: style.color, border: "#1f2933" } },
      borderWidth: record.seed ? 4 : 1,
    };
    if (typeof record.value === "number") {
      item.value = record.value;
    }
    if (near) {
      item.x = near.x + (Math.random() - 0.5) * 120;
      item.y = near.y + (Math.random() - 0.5) * 120;
    } else if (positions[record.id]) {
      item.x = positions[record.id].x;
      item.y = positions[record.id].y;
    }
    return item;
  }

  function visEdge(record) {
    var box = el("div", null, "tip");
    box.appendChild(el("strong", record.type));
    var evidence = record.properties && record.properties.evidence;
    if (evidence) {
      box.appendChild(el("div", shorten(display(evidence), 200)));
    }
    var item = { id: record.id, from: record.source, to: record.target,
                 label: record.label !== undefined ? String(record.label) : record.type,
                 title: box };
    if (typeof record.value === "number") {
      item.value = record.value; // drawn width, e.g. seizures along a route leg
    }
    return item;
  }

  // Adds what is new; returns how many nodes were added.
  function addNetwork(network, near) {
    var freshNodes = [];
    network.nodes.forEach(function (record) {
      if (!records.has(record.id)) {
        records.set(record.id, record);
        freshNodes.push(visNode(record, near));
      }
    });
    var freshEdges = [];
    network.edges.forEach(function (record) {
      if (!edgeRecords.has(record.id)) {
        edgeRecords.set(record.id, record);
        freshEdges.push(visEdge(record));
      }
    });
    nodes.add(freshNodes);
    edges.add(freshEdges);
    updateCounts();
    return freshNodes.length;
  }

  function updateCounts() {
    container.dataset.nodeCount = String(nodes.length);
    container.dataset.edgeCount = String(edges.length);
    if (counts) {
      counts.textContent = nodes.length + " nodes \u00b7 " + edges.length + " edges";
    }
    drawLegend();
  }

  function drawLegend() {
    if (!legend) {
      return;
    }
    var perKind = new Map();
    records.forEach(function (record) {
      perKind.set(record.label, (perKind.get(record.label) || 0) + 1);
    });
    legend.replaceChildren();
    Object.keys(styles).forEach(function (label) {
      if (!perKind.has(label)) {
        return;
      }
      var item = el("li");
      var swatch = el("span", null, "swatch shape-" + styleOf(label).shape);
      swatch.style.backgroundColor = styleOf(label).color;
      item.appendChild(swatch);
      item.appendChild(el("span", label + " " + perKind.get(label)));
      item.dataset.kind = label;
      legend.appendChild(item);
    });
  }

  function table(rows) {
    var tbl = el("table", null, "props");
    var body = el("tbody");
    rows.forEach(function (row) {
      if (row[1] === "") {
        return;
      }
      var tr = el("tr");
      var th = el("th", row[0]);
      th.scope = "row";
      tr.appendChild(th);
      tr.appendChild(el("td", row[1]));
      body.appendChild(tr);
    });
    tbl.appendChild(body);
    return tbl;
  }

  function showNode(record) {
    details.replaceChildren();
    details.appendChild(el("span", record.label, "kind kind-" + record.label.toLowerCase()));
    details.appendChild(el("h2", record.caption, "detail-title"));
    details.appendChild(el("p", record.key, "key"));
    var actions = el("p", null, "actions");
    var open = el("a", "Open page");
    open.href = entityUrl(record);
    actions.appendChild(open);
    if (expandable) {
      var grow = el("button", "Expand");
      grow.type = "button";
      grow.addEventListener("click", function () { expand(record.id); });
      actions.appendChild(grow);
    }
    details.appendChild(actions);
    var props = Object.keys(record.properties).sort().map(function (name) {
      return [name, display(record.properties[name])];
    });
    details.appendChild(table(props));
    details.appendChild(el("h3", "Provenance"));
    var prov = record.provenance || {};
    details.appendChild(table(["source", "source_record", "first_seen", "last_seen",
                               "ingested_at"].map(function (name) {
      return [name.replace("_", " "), display(prov[name])];
    })));
    details.dataset.showing = record.id;
  }

  function showEdge(record) {
    details.replaceChildren();
    details.appendChild(el("h2", record.type, "detail-title"));
    var ends = records;
    details.appendChild(table([
      ["from", ends.has(record.source) ? ends.get(record.source).caption : record.source],
      ["to", ends.has(record.target) ? ends.get(record.target).caption : record.target],
    ].concat(Object.keys(record.properties).sort().map(function (name) {
      return [name, display(record.properties[name])];
    })).concat([["source", display(record.provenance && record.provenance.source)]])));
    details.dataset.showing = record.id;
  }

  function say(text) {
    var status = document.getElementById("expand-status");
    if (!status) {
      status = el("p", null, "notice");
      status.id = "expand-status";
      status.setAttribute("role", "status");
      document.getElementById("network-status").appendChild(status);
    }
    status.textContent = text;
  }

  addNetwork(payload.network, null);
  var network = new window.vis.Network(container, { nodes: nodes, edges: edges }, {
    nodes: {
      size: 14,
      font: { size: 12, face: "system-ui, sans-serif", color: "#1f2933" },
      scaling: { min: 10, max: 40, label: { enabled: false } },
    },
    edges: {
      arrows: { to: { enabled: true, scaleFactor: 0.5 } },
      color: { color: "#b8c0cc", highlight: "#1f2933", hover: "#52606d" },
      font: { size: 9, color: "#52606d", strokeWidth: 3, align: "middle" },
      scaling: { min: 1, max: 8, label: { enabled: false } },
      smooth: false,
    },
    physics: {
      enabled: !frozen,
      solver: "forceAtlas2Based",
      forceAtlas2Based: { gravitationalConstant: -70, springLength: 120, avoidOverlap: 0.4 },
      stabilization: { iterations: 300, updateInterval: 50 },
    },
    interaction: { hover: true, tooltipDelay: 200 },
    layout: { improvedLayout: false },
  });

  function settled() {
    network.setOptions({ physics: { enabled: false } });
    container.dataset.stabilized = "true";
  }
  network.on("stabilizationIterationsDone", settled);

  function expand(id) {
    container.dataset.expanding = "true";
    var url = "/api/network?" + payload.expandQuery + "&seed=" + encodeURIComponent(id);
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(display(body.detail) || response.statusText);
          }
          return body;
        });
      })
      .then(function (body) {
        var near = network.getPositions([id])[id];
        var added = addNetwork(body, near);
        var label = records.has(id) ? shorten(records.get(id).caption, 40) : id;
        say(added ? "Added " + added + " nodes around " + label +
                    (body.truncated ? " (limited to " + body.limit + "; narrow the filters)" : "")
                  : "Nothing new around " + label + " under these filters.");
        if (added) {
          container.dataset.stabilized = "false";
          network.setOptions({ physics: { enabled: true } });
          network.stabilize(150);
        }
      })
      .catch(function (error) { say("Could not expand: " + error.message); })
      .finally(function () { container.dataset.expanding = "false"; });
  }

  network.on("click", function (params) {
    if (params.nodes.length) {
      showNode(records.get(params.nodes[0]));
    } else if (params.edges.length) {
      showEdge(edgeRecords.get(params.edges[0]));
    }
  });
  network.on("doubleClick", function (params) {
    if (expandable && params.nodes.length) {
      expand(params.nodes[0]);
    }
  });

  if (nodes.length < 2 || frozen) {
    settled();
  }
  window.prexusNetwork = { network: network, nodes: nodes, edges: edges, expand: expand,
                           records: records, edgeRecords: edgeRecords };
})();
