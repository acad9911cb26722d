# cove_js_kernel: a Jupyter kernel for runCode(code, {language: 'js'}) (and
# 'ts', the same kernel with COVE_JS_TYPESCRIPT set: cells transpiled) in
# Cove's code-interpreter template, as E2B's template has (there it is
# ijavascript, from npm with a native ZeroMQ module, which Debian does not
# package). An ipykernel wrapper kernel around one Node.js process
# (runner.js) whose global context lasts between runs: the value of a run's
# last expression is its result, `await` works at top level, console
# output streams as it comes, a thrown error is the run's error.
#
# Requests go to node's stdin, replies come on a pipe of their own
# (COVE_JS_REPLY_FD), so the code's own output on stdout and stderr, and its children's,
# can never be mistaken for one.
import json
import os
import select
import signal
import subprocess

from ipykernel.kernelbase import Kernel

__version__ = "1.0"
RUNNER = os.path.join(os.path.dirname(__file__), "runner.js")


class NodeExited(Exception):
    pass


class JavaScriptKernel(Kernel):
    implementation = "cove_js_kernel"
    implementation_version = __version__
    language = "javascript"
    language_version = "18"
    language_info = {"name": "javascript", "mimetype": "application/javascript", "file_extension": ".js"}
    banner = "JavaScript (Node.js, Cove)"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.next_id = 0
        self._start_node()

    def _start_node(self):
        replies_r, replies_w = os.pipe()

        def child_setup():
            # Ignored signals stay ignored across exec: node gets SIGINT
            # (an interrupt) and SIGPIPE back.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)

        env = dict(os.environ, COVE_JS_REPLY_FD=str(replies_w))
        self.node = subprocess.Popen(["node", RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, pass_fds=(replies_w,), preexec_fn=child_setup, env=env)
        os.close(replies_w)
        self.replies = os.fdopen(replies_r, "rb", buffering=0)
        self.pending = b""
        ready = self._next_reply(silent=True)
        if not ready.get("ready"):
            raise RuntimeError(f"node did not start: {ready}")

    def _stream(self, name, data, silent):
        if data and not silent:
            self.send_response(self.iopub_socket, "stream",
                               {"name": name, "text": data.decode("utf-8", errors="replace")})

    def _drain(self, silent, wait=0.0):
        """Output already in the pipes (or arriving within wait)."""
        fds = {self.node.stdout.fileno(): "stdout", self.node.stderr.fileno(): "stderr"}
        while True:
            ready, _, _ = select.select(list(fds), [], [], wait)
            if not ready:
                return
            for fd in ready:
                data = os.read(fd, 65536)
                if data:
                    self._stream(fds[fd], data, silent)
                else:
                    del fds[fd]
            if not fds:
                return

    def _next_reply(self, silent):
        """Streams output until a reply line comes; the reply."""
        out, err, rep = self.node.stdout.fileno(), self.node.stderr.fileno(), self.replies.fileno()
        watched = [out, err, rep]
        while b"\n" not in self.pending:
            ready, _, _ = select.select(watched, [], [], 1.0)
            for fd in ready:
                data = os.read(fd, 65536)
                if fd == rep:
                    if not data:
                        raise NodeExited()
                    self.pending += data
                elif data:
                    self._stream("stdout" if fd == out else "stderr", data, silent)
                else:
                    watched.remove(fd)  # the code closed it: not read again
            if not ready and self.node.poll() is not None:
                raise NodeExited()
        line, _, self.pending = self.pending.partition(b"\n")
        return json.loads(line)

    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False):
        self.next_id += 1
        try:
            self.node.stdin.write((json.dumps({"id": self.next_id, "code": code}) + "\n").encode())
            self.node.stdin.flush()
            while True:
                reply = self._next_reply(silent)
                if reply.get("id") == self.next_id:
                    break
            self._drain(silent)
        except (NodeExited, BrokenPipeError):
            self._drain(silent)
            status = self.node.wait()
            self._start_node()
            return self._error("NodeExited", f"node ended ({status}); a new one was started (state is lost)", [],
                               silent)
        if not reply["ok"]:
            return self._error(reply["name"], reply["value"], [reply["stack"]], silent)
        if reply["text"] is not None and not silent:
            self.send_response(self.iopub_socket, "execute_result", {
                "execution_count": self.execution_count, "data": {"text/plain": reply["text"]}, "metadata": {}})
        return {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}

    def _error(self, name, value, traceback, silent):
        content = {"ename": name, "evalue": value, "traceback": traceback or [f"{name}: {value}"]}
        if not silent:
            self.send_response(self.iopub_socket, "error", content)
        return dict(content, status="error", execution_count=self.execution_count)

    async def interrupt_request(self, stream, ident, parent):
        """Interrupts come as messages (the kernelspec's interrupt_mode), on
        the control channel's thread: a SIGINT to node, which ends the
        code it runs or the promise it awaits."""
        self.node.send_signal(signal.SIGINT)
        self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    def do_shutdown(self, restart):
        self.node.kill()
        return {"status": "ok", "restart": restart}
