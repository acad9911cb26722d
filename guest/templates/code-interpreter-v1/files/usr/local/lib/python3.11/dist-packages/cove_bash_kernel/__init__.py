# cove_bash_kernel: a Jupyter kernel for runCode(code, {language: 'bash'})
# in Cove's code-interpreter template, as E2B's template has (there it is
# PyPI's bash_kernel, which Debian does not package). An ipykernel wrapper
# kernel around one interactive bash on a pseudo-terminal (pexpect, which
# IPython already brings), so that state (variables, functions, the working
# directory) lasts between runs and an interrupt is a Ctrl-C: bash abandons
# the command line and prompts again. Its kernelspec asks for interrupts as
# messages (interrupt_request, on the control channel's own thread), so a
# run blocked reading bash's output is interrupted without a signal.
#
# Each line of the code is sent in turn and bash's prompt (or its
# continuation prompt, for a line that does not end a command) awaited;
# what bash prints meanwhile goes out as stdout as it comes (on a terminal,
# stderr is the same stream). A run whose last command exits non-zero ends
# with an error naming the status.
import os
import re
import secrets
import signal

import pexpect
from ipykernel.kernelbase import Kernel

__version__ = "1.0"

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class IncompleteCode(Exception):
    pass


class BashKernel(Kernel):
    implementation = "cove_bash_kernel"
    implementation_version = __version__
    language = "bash"
    language_version = "5"
    language_info = {"name": "bash", "mimetype": "text/x-sh", "file_extension": ".sh", "codemirror_mode": "shell"}
    banner = "Bash (Cove)"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._start_bash()

    def _start_bash(self):
        token = secrets.token_hex(8)
        self.ps1 = f"[cove-ps1-{token}]"
        self.ps2 = f"[cove-ps2-{token}]"
        env = dict(os.environ, TERM="dumb", PAGER="cat", GIT_PAGER="cat")
        # No readline (--noediting): nothing echoes what is sent, and the
        # terminal's own echo is off (echo=False). Wide, so nothing wraps.
        # The kernel ignores SIGINT between requests (ipykernel) and Python
        # SIGPIPE; ignored signals stay ignored across exec, so bash and
        # what it runs get them back: a Ctrl-C must end a command, and
        # `yes | head` must end too.
        def default_signals():
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)

        self.bash = pexpect.spawn("/bin/bash", ["--noprofile", "--norc", "--noediting", "-i"], env=env,
                                  echo=False, encoding="utf-8", codec_errors="replace", dimensions=(50, 4096),
                                  preexec_fn=default_signals)
        self.bash.sendline(f"PS1='{self.ps1}'; PS2='{self.ps2}'; unset PROMPT_COMMAND; HISTFILE=")
        self.bash.expect_exact(self.ps1, timeout=60)

    def _send_output(self, text, silent):
        text = ANSI.sub("", text.replace("\r\n", "\n"))
        if text and not silent:
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": text})

    def _prompt_start(self, buffer):
        """How long a tail of buffer could be the start of a prompt."""
        for n in range(min(len(buffer), len(self.ps1) - 1), 0, -1):
            tail = buffer[-n:]
            if self.ps1.startswith(tail) or self.ps2.startswith(tail):
                return n
        return 0

    def _await_prompt(self, silent):
        """Output until the next prompt; which prompt it was."""
        buffer = ""
        while True:
            try:
                buffer += self.bash.read_nonblocking(65536, timeout=0.1)
            except pexpect.TIMEOUT:
                pass
            for prompt in (self.ps1, self.ps2):
                at = buffer.find(prompt)
                if at >= 0:
                    self._send_output(buffer[:at], silent)
                    return prompt, buffer[at + len(prompt):]
            # Out all but a tail that may be the start of a prompt.
            keep = self._prompt_start(buffer)
            if len(buffer) > keep:
                self._send_output(buffer[:len(buffer) - keep], silent)
                buffer = buffer[len(buffer) - keep:]

    def _run(self, code, silent):
        """The code's output, streamed; the status of its last command."""
        prompt = self.ps1
        for line in code.rstrip("\n").split("\n") if code.strip() else []:
            self.bash.sendline(line)
            prompt, rest = self._await_prompt(silent)
            self._send_output(rest, silent)
        if prompt == self.ps2:
            # Code that does not end a command (an open quote, a missing
            # "done"): abandoned, as a terminal's Ctrl-C would.
            self.bash.sendintr()
            self._await_prompt(True)
            raise IncompleteCode()
        self.bash.sendline("echo $?")
        buffer = ""
        while self.ps1 not in buffer:
            try:
                buffer += self.bash.read_nonblocking(4096, timeout=1)
            except pexpect.TIMEOUT:
                pass
        status = buffer[:buffer.find(self.ps1)].strip()
        return int(status) if status.isdigit() else 0

    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False):
        try:
            status = self._run(code, silent)
        except KeyboardInterrupt:
            self.bash.sendintr()
            try:
                self._await_prompt(silent)
            except pexpect.EOF:
                self._start_bash()
            return self._error("KeyboardInterrupt", "interrupted", silent)
        except IncompleteCode:
            return self._error("IncompleteCode", "the code does not end its last command (an open quote or block)",
                                silent)
        except pexpect.EOF:
            self._start_bash()
            return self._error("BashExited", "bash exited; a new one was started (variables are lost)", silent)
        if status:
            return self._error("CommandError", f"exit status {status}", silent)
        return {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}

    async def interrupt_request(self, stream, ident, parent):
        """Its kernelspec's interrupt_mode is "message": an interrupt comes
        on the control channel (its own thread) and becomes a Ctrl-C on
        bash's terminal, which ends the command line; the run then sees
        bash's prompt and ends with exit status 130."""
        self.bash.sendintr()
        self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    def _error(self, name, value, silent):
        content = {"ename": name, "evalue": value, "traceback": [f"{name}: {value}"]}
        if not silent:
            self.send_response(self.iopub_socket, "error", content)
        return dict(content, status="error", execution_count=self.execution_count)

    def do_shutdown(self, restart):
        self.bash.close(force=True)
        return {"status": "ok", "restart": restart}
