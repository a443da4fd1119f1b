#!/bin/sh
# html_to_c.sh FILE - FILE as one C string constant pd_render_dashboard_html on standard
# output, so the daemon carries its dashboard page and serves it without reading a file.
# sed, not awk: backslashes in a replacement mean the same in every sed.
set -e
echo "/* Generated from server/ops/dashboard.html by server/ops/html_to_c.sh: edit those. */"
echo "#include <config.h>"
echo "#include \"server/ops/status_render.h\""
echo
echo "const char pd_render_dashboard_html[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' -e 's/^/    "/' -e 's/$/\\n"/' "$1"
echo "    ;"
