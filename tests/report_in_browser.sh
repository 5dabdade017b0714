#!/usr/bin/env bash
# Opens the study's report.html in headless Chromium (Debian's `chromium`) the way a reader who was
# mailed the file would: copied alone into an empty folder, with the network cut off. Fails when a
# resource fails to load or would come from anywhere but the file itself, when a script errors,
# when a figure is missing, or when two texts of a figure overlap or leave it (measured by the
# browser, with its own fonts). Saves screenshots of the page's top and of the whole page.
#
#   bash tests/report_in_browser.sh REPORT.html SCREENSHOT_DIR [FIGURES]
#
# FIGURES: how many inline figures the page must have (default: 17, the four-model study).
# Exit 77 (skipped, for CTest) when there is no report (the dataset test that writes it was skipped).
set -uo pipefail
report=${1:?usage: report_in_browser.sh REPORT.html SCREENSHOT_DIR [FIGURES]}
shots=${2:?usage: report_in_browser.sh REPORT.html SCREENSHOT_DIR [FIGURES]}
figures=${3:-17}
[ -f "$report" ] || { echo "skipped: no report at $report (the Fashion-MNIST --quick test writes it)"; exit 77; }
command -v chromium >/dev/null || { echo "error: chromium is not installed (apt-get install chromium)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/alone" "$work/profile" "$shots"
cp "$report" "$work/alone/report.html"

# The instrumented copy: a script first in <head> that records every error (scripts, and
# resources, whose error events do not bubble but are seen while capturing), then after load
# lists resources fetched from anywhere but data: URIs, counts the figures, and checks each SVG's
# texts against each other and against the SVG's box. The verdict lands in an attribute that
# --dump-dom prints.
cat > "$work/check.js" <<'EOF'
<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push(t && t !== window ? 'resource failed: <' + t.tagName + '> ' + (t.src || t.href || '')
                                         : 'script error: ' + e.message);
}, true);
window.addEventListener('unhandledrejection', function (e) { window.__errors.push('unhandled rejection: ' + e.reason); });
window.addEventListener('load', function () {
  var r = {errors: window.__errors, external: [], overlaps: [], outside: [], figures: 0, texts: 0,
           height: document.documentElement.scrollHeight};
  performance.getEntriesByType('resource').forEach(function (e) {
    if (e.name.indexOf('data:') !== 0) r.external.push(e.name);
  });
  document.querySelectorAll('img, image, link[href], script[src], iframe, object, embed').forEach(function (e) {
    var url = e.getAttribute('src') || e.getAttribute('href') || '';
    if (url && url.indexOf('data:') !== 0 && url.charAt(0) !== '#') r.external.push(e.tagName + ' ' + url);
  });
  var svgs = document.querySelectorAll('figure > svg');
  r.figures = svgs.length;
  svgs.forEach(function (svg, k) {
    var frame = svg.getBoundingClientRect();
    var boxes = Array.prototype.map.call(svg.querySelectorAll('text'), function (t) {
      return {text: t.textContent, box: t.getBoundingClientRect()};
    });
    r.texts += boxes.length;
    var label = (svg.getAttribute('aria-label') || 'figure ' + k).slice(0, 60);
    boxes.forEach(function (a, i) {
      var b0 = a.box;
      if (b0.left < frame.left - 0.5 || b0.right > frame.right + 0.5 || b0.top < frame.top - 0.5 ||
          b0.bottom > frame.bottom + 0.5)
        r.outside.push(label + ': "' + a.text + '"');
      for (var j = i + 1; j < boxes.length; ++j) {
        var b = boxes[j].box;
        // Glyph boxes include the font's line gap; a pixel of contact is not an overlap.
        var dx = Math.min(b0.right, b.right) - Math.max(b0.left, b.left);
        var dy = Math.min(b0.bottom, b.bottom) - Math.max(b0.top, b.top);
        if (dx > 1 && dy > 1) r.overlaps.push(label + ': "' + a.text + '" and "' + boxes[j].text + '"');
      }
    });
  });
  r.problems = r.errors.length + r.external.length + r.overlaps.length + r.outside.length;
  document.documentElement.setAttribute('data-check', JSON.stringify(r));
});
</script>
EOF
awk -v script="$work/check.js" '!done && /<head>/ { print; while ((getline line < script) > 0) print line; done = 1; next }
  { print }' "$work/alone/report.html" > "$work/alone/checked.html"

browser=(chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
         --user-data-dir="$work/profile" --host-resolver-rules="MAP * ~NOTFOUND" --virtual-time-budget=15000)
"${browser[@]}" --window-size=1400,1000 --dump-dom "file://$work/alone/checked.html" > "$work/dom.html" 2> "$work/browser.log"
verdict=$(grep -o "data-check=\"[^\"]*\"" "$work/dom.html" | head -1 | sed 's/^data-check="//; s/"$//; s/&quot;/"/g; s/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g')
if [ -z "$verdict" ]; then
  echo "FAIL: the page did not finish loading in Chromium; its log:" >&2
  tail -20 "$work/browser.log" >&2
  exit 1
fi
echo "$verdict" > "$shots/check.json"
echo "Chromium's check of the report (copied alone, no network): $verdict"

fail=0
problems=$(grep -o '"problems":[0-9]*' "$shots/check.json" | cut -d: -f2)
if [ "${problems:-1}" -ne 0 ]; then echo "FAIL: $problems problems (errors, external, overlaps, outside above)" >&2; fail=1; fi
seen=$(grep -o '"figures":[0-9]*' "$shots/check.json" | cut -d: -f2)
if [ "${seen:-0}" -ne "$figures" ]; then echo "FAIL: $seen inline figures, $figures expected" >&2; fail=1; fi
height=$(grep -o '"height":[0-9]*' "$shots/check.json" | cut -d: -f2)

# Screenshots of the report itself (not the instrumented copy).
"${browser[@]}" --window-size=1400,1600 --screenshot="$shots/report-top.png" "file://$work/alone/report.html" \
  >> "$work/browser.log" 2>&1
"${browser[@]}" --window-size=1400,"${height:-8000}" --screenshot="$shots/report-full.png" \
  "file://$work/alone/report.html" >> "$work/browser.log" 2>&1
for shot in report-top.png report-full.png; do
  if [ ! -s "$shots/$shot" ]; then echo "FAIL: no screenshot $shot" >&2; fail=1; fi
done
[ $fail -eq 0 ] && echo "OK: $seen figures, no failed or external resource, no script error, no overlapping text; screenshots in $shots"
exit $fail
