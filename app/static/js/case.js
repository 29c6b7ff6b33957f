// The case page's forms: the snapshot form sends where each node is on screen, so the
// snapshot reopens exactly as drawn; a click on a node or an edge makes it the target of
// the annotation form. Text from the store reaches the page only through textContent.
(function () {
  "use strict";

  var drawn = window.prexusNetwork;
  if (!drawn) {
    return;
  }

  var snapshotForm = document.getElementById("snapshot-form");
  if (snapshotForm) {
    snapshotForm.addEventListener("submit", function () {
      var field = snapshotForm.querySelector('input[name="positions"]');
      field.value = JSON.stringify(drawn.network.getPositions());
    });
  }

  var target = document.getElementById("annotate-target");
  var chosen = document.getElementById("annotate-chosen");
  if (!target) {
    return;
  }
  drawn.network.on("click", function (params) {
    var id = null;
    var text = "";
    if (params.nodes.length) {
      id = params.nodes[0];
      var node = drawn.records.get(id);
      text = node ? node.label + " " + node.caption : id;
    } else if (params.edges.length) {
      id = params.edges[0];
      var edge = drawn.edgeRecords.get(id);
      text = edge ? edge.type + " edge" : id;
    }
    if (id === null) {
      return;
    }
    target.value = id;
    if (chosen) {
      chosen.textContent = "Annotating " + text;
    }
  });
})();
