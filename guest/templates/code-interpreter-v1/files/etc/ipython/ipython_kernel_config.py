# Configuration of every IPython kernel in Cove's code-interpreter template
# (IPython reads /etc/ipython for all users; a user's own
# ~/.ipython/profile_default/ipython_kernel_config.py can override it).
# It sets what E2B's template sets that shows in runCode's results.
c = get_config()  # noqa: F821 (provided by IPython when it loads this file)

# E2B's result formats: e2b/data (DataFrames), e2b/chart (matplotlib
# figures), application/json for dicts and lists, PIL's Image.show() into the
# notebook. See /usr/local/lib/python3.11/dist-packages/cove_display.
c.InteractiveShellApp.extensions = ["cove_display"]

# Tracebacks as plain text: E2B sets NoColor, so an error's `traceback` holds
# no ANSI escapes. The layout (xmode) stays IPython's default, "Context", as
# on E2B.
c.InteractiveShell.colors = "NoColor"

# Figures shown at the end of a cell (plt.show(), or a figure left open) are
# sent as PNG, the `png` of E2B's result; matplotlib_inline's default, stated
# here because the chart and the PNG are expected together.
c.InlineBackend.figure_formats = {"png"}
