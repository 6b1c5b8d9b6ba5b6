// Conveniences only: the report is complete without JavaScript.
(function () {
  "use strict";
  // Hovering a bar or a table row highlights the same stage execution in both places.
  function mark(id, on) {
    document.querySelectorAll('[data-exec="' + id + '"]').forEach(function (el) {
      el.classList.toggle("hl", on);
    });
  }
  var details = document.createElement("div");
  details.id = "details";
  document.body.appendChild(details);
  document.querySelectorAll("[data-exec]").forEach(function (el) {
    var id = el.getAttribute("data-exec");
    el.addEventListener("mouseenter", function () {
      mark(id, true);
      var title = el.querySelector("title");
      if (title) { details.textContent = title.textContent; details.classList.add("on"); }
    });
    el.addEventListener("mouseleave", function () { mark(id, false); details.classList.remove("on"); });
  });
  // Clicking a column header sorts the table by it (again: the other way).
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, column) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var up = th.getAttribute("data-dir") !== "up";
        table.querySelectorAll("thead th").forEach(function (other) { other.removeAttribute("data-dir"); });
        th.setAttribute("data-dir", up ? "up" : "down");
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var cell = row.cells[column];
          var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
          var number = parseFloat(raw);
          return isNaN(number) || !/^-?[0-9.e+-]+$/i.test(raw.trim()) ? raw.trim().toLowerCase() : number;
        }
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return up ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
