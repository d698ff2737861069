// The `ai` client as an oracle for convtest's stream reassembly (test_stream_oracle.py).
//
// Reads a corpus (JSON: [{name, body: base64, cuts: [byte offsets]}]) from the file named in argv,
// and for each case gives the same bytes, cut at the same offsets, to two clients of the real
// `ai` package:
//   read: readUIMessageStream over DefaultChatTransport's own byte parsing (processResponseStream),
//         the pieces handed over one by one;
//   chat: an AbstractChat with a DefaultChatTransport that fetches the case from a server on
//         127.0.0.1, which writes each piece separately (no delay, Nagle off).
// Prints one JSON line per case: the final assistant message of each client, the finish reason
// and every error either reported.
import http from 'node:http';
import fs from 'node:fs';
import { AbstractChat, DefaultChatTransport, readUIMessageStream } from 'ai';

const corpus = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')).map((c) => ({
  ...c,
  bytes: Buffer.from(c.body, 'base64'),
}));

function pieces(bytes, cuts) {
  const edges = [0, ...cuts, bytes.length];
  const out = [];
  for (let i = 0; i + 1 < edges.length; i++) out.push(bytes.subarray(edges[i], edges[i + 1]));
  return out;
}

const message = (error) => (error instanceof Error ? error.message : String(error));

async function viaRead(testCase) {
  const chunks = pieces(testCase.bytes, testCase.cuts);
  const bytes = new ReadableStream({
    pull(controller) {
      if (chunks.length) controller.enqueue(new Uint8Array(chunks.shift()));
      else controller.close();
    },
  });
  let finishReason = null;
  const errors = [];
  const tap = new TransformStream({
    transform(chunk, controller) {
      if (chunk.type === 'finish' && chunk.finishReason != null) finishReason = chunk.finishReason;
      controller.enqueue(chunk);
    },
  });
  const stream = new DefaultChatTransport().processResponseStream(bytes).pipeThrough(tap);
  let last = null;
  try {
    for await (const snapshot of readUIMessageStream({ stream, onError: (e) => errors.push(message(e)) })) {
      last = snapshot;
    }
  } catch (error) {
    errors.push(message(error));
  }
  return { message: last, finishReason, errors };
}

class State {
  constructor() {
    this.messages = [];
    this.status = 'ready';
    this.error = undefined;
  }
  pushMessage = (m) => { this.messages = this.messages.concat(m); };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (i, m) => { this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)]; };
  snapshot = (value) => structuredClone(value);
}

class Chat extends AbstractChat {
  constructor(options) {
    super({ ...options, state: new State() });
  }
}

async function viaChat(base, index) {
  const errors = [];
  let finishReason = null;
  const chat = new Chat({
    transport: new DefaultChatTransport({ api: `${base}/case/${index}` }),
    onError: (e) => errors.push(message(e)),
    onFinish: (event) => { finishReason = event.finishReason ?? null; },
  });
  try {
    await chat.sendMessage({ text: 'hi' });
  } catch (error) {
    errors.push(message(error));
  }
  const last = chat.messages.at(-1);
  return { message: last && last.role === 'assistant' ? last : null, finishReason, errors, status: chat.status };
}

const server = http.createServer(async (request, response) => {
  const testCase = corpus[Number(request.url.split('/').at(-1))];
  request.resume();
  request.socket.setNoDelay(true);
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  response.flushHeaders();
  for (const piece of pieces(testCase.bytes, testCase.cuts)) {
    response.write(piece);
    await new Promise((resolve) => setImmediate(resolve));
  }
  response.end();
});

server.listen(0, '127.0.0.1', async () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  for (const [index, testCase] of corpus.entries()) {
    const result = { name: testCase.name, read: await viaRead(testCase), chat: await viaChat(base, index) };
    process.stdout.write(JSON.stringify(result) + '\n');
  }
  server.close();
});
