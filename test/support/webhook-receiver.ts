// Test support: a real HTTP webhook receiver on loopback that verifies every delivery with the sample
// verifier (protocol/webhook-verifier.ts) and answers what the test tells it to.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WEBHOOK_SIGNATURE_HEADER } from '../../protocol/webhook.ts';
import { createWebhookVerifier, WebhookVerificationError } from '../../protocol/webhook-verifier.ts';

export interface ReceivedWebhook {
  body: string;
  signature: string;
  /** The verifier's verdict: the event, or why it refused it. */
  event: { id: string; type: string; playbackId: string; data: Record<string, unknown> } | null;
  refused: string | null;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Accepted events (verified, not replays). */
  events(): NonNullable<ReceivedWebhook['event']>[];
  /** The status answered to the next deliveries: 200 by default. */
  answer: number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(secret: string, path = '/hooks'): Promise<WebhookReceiver> {
  const verify = createWebhookVerifier({ secret });
  const received: ReceivedWebhook[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    received,
    events: () => received.filter((r) => r.event).map((r) => r.event!),
    answer: 200,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = String(req.headers[WEBHOOK_SIGNATURE_HEADER] ?? '');
      if (receiver.answer !== 200) {
        // A failing receiver takes nothing: the delivery must come again.
        received.push({ body, signature, event: null, refused: `answered ${receiver.answer}` });
        res.writeHead(receiver.answer).end();
        return;
      }
      try {
        received.push({ body, signature, event: verify(body, signature), refused: null });
        res.writeHead(200).end();
      } catch (err) {
        const reason = err instanceof WebhookVerificationError ? err.reason : 'error';
        received.push({ body, signature, event: null, refused: reason });
        // A replay was handled already: 200 so that a sender retrying a lost answer stops.
        res.writeHead(reason === 'replayed' ? 200 : 400).end(reason);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return receiver;
}
