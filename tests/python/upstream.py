"""A loopback OpenAI-compatible model server for the black-box tests of `llmtrace proxy`.

The last user message picks the answer: "status NNN" answers with that HTTP error, a request
offering tools gets a call to the first tool, anything else "Hello from upstream" (streamed
word by word when asked). Prints its port on the first line of stdout.
"""

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        prompt = request["messages"][-1].get("content") or ""
        status = re.search(r"status (\d{3})", prompt)
        if status:
            code = int(status.group(1))
            self.send_json(code, {"error": {"message": f"upstream says {code}", "type": "test"}})
            return
        usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        if request.get("tools"):
            call = {"id": "call_1", "type": "function",
                    "function": {"name": request["tools"][0]["function"]["name"],
                                 "arguments": json.dumps({"city": "Paris"})}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            self.send_json(200, {"id": "chatcmpl-1", "object": "chat.completion", "model": "up",
                                 "choices": [{"index": 0, "message": message,
                                              "finish_reason": "tool_calls"}],
                                 "usage": usage})
            return
        words = ["Hello ", "from ", "upstream"]
        if not request.get("stream"):
            message = {"role": "assistant", "content": "".join(words)}
            self.send_json(200, {"id": "chatcmpl-1", "object": "chat.completion", "model": "up",
                                 "choices": [{"index": 0, "message": message,
                                              "finish_reason": "stop"}],
                                 "usage": usage})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for i, word in enumerate(words):
            last = i == len(words) - 1
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "up",
                     "choices": [{"index": 0, "delta": {"content": word},
                                  "finish_reason": "stop" if last else None}]}
            if last:
                chunk["usage"] = usage
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
