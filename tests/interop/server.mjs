// A chat server built with the real `ai` package, speaking the Robofy chat API, for convtest's
// interop test. The model is the package's own mock, scripted per message; the tools are real
// `tool()` definitions that the package executes; every byte of the stream is encoded by the
// package. It prints its URL once it listens on 127.0.0.1 (port from argv, 0 = any free one).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import {
  createUIMessageStream,
  pipeUIMessageStreamToResponse,
  simulateReadableStream,
  stepCountIs,
  streamText,
  tool,
} from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { z } from 'zod';

const ORDERS = { 1234: { status: 'shipped', carrier: 'UPS' }, 5678: { status: 'processing' } };
const sessions = new Map(); // session id -> { name }

const tools = {
  lookup_order: tool({
    description: 'Look an order up by its number',
    inputSchema: z.object({ order_id: z.string() }),
    execute: async ({ order_id }) => ({ order_id, found: order_id in ORDERS, ...ORDERS[order_id] }),
  }),
};

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 5, text: 5, reasoning: 0 },
};
const finish = (unified) => ({ type: 'finish', finishReason: { unified, raw: unified }, usage });
const text = (...deltas) => [
  { type: 'text-start', id: '0' },
  ...deltas.map((delta) => ({ type: 'text-delta', id: '0', delta })),
  { type: 'text-end', id: '0' },
];

// One model step: what the mock model streams, given what the user said and the tool results so far.
function step(query, session, toolResults) {
  const order = /order (\d+)/i.exec(query);
  if (order && toolResults.length === 0) {
    return [
      { type: 'reasoning-start', id: 'r' },
      { type: 'reasoning-delta', id: 'r', delta: 'The user asks about an order; look it up.' },
      { type: 'reasoning-end', id: 'r' },
      { type: 'tool-input-start', id: 'call-1', toolName: 'lookup_order' },
      { type: 'tool-input-delta', id: 'call-1', delta: '{"order_id":' },
      { type: 'tool-input-delta', id: 'call-1', delta: `"${order[1]}"}` },
      { type: 'tool-input-end', id: 'call-1' },
      { type: 'tool-call', toolCallId: 'call-1', toolName: 'lookup_order', input: JSON.stringify({ order_id: order[1] }) },
      finish('tool-calls'),
    ];
  }
  if (order) {
    const result = toolResults[0];
    return [
      { type: 'source', sourceType: 'url', id: 'src-1', url: 'https://shop.example/orders', title: 'Orders' },
      ...text(`Order ${result.order_id} `, `is ${result.status ?? 'unknown'}.`),
      finish('stop'),
    ];
  }
  if (query.includes('[[error]]')) {
    return [...text('Let me'), { type: 'error', error: new Error('Simulated model failure') }];
  }
  const name = /my name is (\w+)/i.exec(query);
  if (name) {
    session.name = name[1];
    return [...text('Nice to meet you, ', `${name[1]}!`), finish('stop')];
  }
  if (/what is my name/i.test(query)) {
    return [...text(session.name ? `Your name is ${session.name}.` : "I don't know your name yet."), finish('stop')];
  }
  return [...text('Hello from ', 'the AI SDK!'), finish('stop')];
}

function toolResultsOf(prompt) {
  return prompt
    .filter((message) => message.role === 'tool')
    .flatMap((message) => message.content)
    .map((part) => part.output.value);
}

function answer(request, response, body) {
  const { query, user_context: context = {} } = body;
  const sessionId = context.session_id || randomUUID();
  if (!sessions.has(sessionId)) sessions.set(sessionId, {});
  const session = sessions.get(sessionId);
  const model = new MockLanguageModelV3({
    doStream: async ({ prompt }) => ({
      stream: simulateReadableStream({ chunks: step(query, session, toolResultsOf(prompt)), chunkDelayInMs: 1 }),
    }),
  });
  const stream = createUIMessageStream({
    execute: ({ writer }) => {
      const result = streamText({ model, prompt: query, tools, stopWhen: stepCountIs(3) });
      writer.merge(
        result.toUIMessageStream({
          sendSources: true,
          generateMessageId: () => `msg-${randomUUID()}`,
          messageMetadata: ({ part }) => (part.type === 'finish' ? { model: 'mock' } : undefined),
          onError: (error) => (error instanceof Error ? error.message : String(error)),
        }),
      );
      writer.write({ type: 'data-session', data: sessionId });
    },
  });
  pipeUIMessageStreamToResponse({ response, stream, keepAliveMs: 5 });
}

const server = http.createServer((request, response) => {
  if (request.method !== 'POST' || request.url !== '/v1/ai-agent/chat/stream') {
    response.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
    return;
  }
  let raw = '';
  request.on('data', (chunk) => (raw += chunk));
  request.on('end', () => {
    try {
      answer(request, response, JSON.parse(raw));
    } catch (error) {
      response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: String(error) }));
    }
  });
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
