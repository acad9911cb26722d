# python3 -m cove_bash_kernel -f CONNECTION_FILE: the Bash kernel of Cove's
# code-interpreter template (its kernelspec: /usr/local/share/jupyter/
# kernels/bash).
from ipykernel.kernelapp import IPKernelApp

from . import BashKernel

IPKernelApp.launch_instance(kernel_class=BashKernel)
