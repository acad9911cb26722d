# python3 -m cove_js_kernel -f CONNECTION_FILE: the JavaScript kernel of
# Cove's code-interpreter template (its kernelspec: /usr/local/share/
# jupyter/kernels/javascript).
from ipykernel.kernelapp import IPKernelApp

from . import JavaScriptKernel

IPKernelApp.launch_instance(kernel_class=JavaScriptKernel)
