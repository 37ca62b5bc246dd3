/**
 * The AsyncAPI 3.0 document of the Socket.IO API, generated from protocol/: one channel for the
 * default namespace, one message per event (named as the event), each client event a `send`
 * operation whose `reply` is its ack, each push a `receive` operation, the JWT handshake as the
 * security scheme. Never edited by hand: `npm run docs`.
 */
import { z } from 'zod';
import {
  ACTIONS, answerCodes, Call, LatLng, Offer, Place, PROTOCOL_VERSION, PUSHES, SUPPORTED_MAJORS, WireError,
  type Action,
} from '../../protocol/index.js';

/** Schemas shared by many messages, as components (referenced, not repeated). */
const SHARED: Record<string, z.ZodType> = { Call, Place, LatLng, Offer, WireError };

type JsonSchema = Record<string, unknown>;

/** A zod schema as AsyncAPI's schema format (JSON Schema draft-07), shared schemas by $ref. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const shared = Object.entries(SHARED).find(([, s]) => s === schema);
  if (shared) return { $ref: `#/components/schemas/${shared[0]}` };
  return component(schema, io);
}

/** The schema itself, whatever it is, with the shared schemas inside it by $ref. */
function component(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const registry = z.registry<{ id: string }>();
  for (const [id, s] of Object.entries(SHARED)) if (s !== schema) registry.add(s, { id });
  const out = z.toJSONSchema(schema, {
    target: 'draft-7', io, metadata: registry, unrepresentable: 'any',
    // Objects the server sends stay open: a minor version may add fields (docs/protocol.md, "Versions").
    override: (ctx) => {
      if (io === 'output' && ctx.jsonSchema.additionalProperties === false) delete ctx.jsonSchema.additionalProperties;
    },
  }) as JsonSchema;
  delete out.$schema;
  delete out.definitions;
  return JSON.parse(JSON.stringify(out).replaceAll('"#/definitions/', '"#/components/schemas/')) as JsonSchema;
}

/** `call:request` → `call.request`: AsyncAPI keys allow letters, digits, `.`, `-` and `_` only. */
const key = (event: string) => event.replace(/:/g, '.');

function ackSchema(a: Action): JsonSchema {
  const codes = answerCodes(a, 'socket');
  return {
    oneOf: [
      { type: 'object', properties: { ok: { const: true }, data: jsonSchema(a.result, 'output') }, required: ['ok', 'data'] },
      {
        type: 'object',
        properties: {
          ok: { const: false },
          error: { type: 'object', properties: { code: { type: 'string', enum: codes }, message: { type: 'string' } }, required: ['code', 'message'] },
        },
        required: ['ok', 'error'],
      },
    ],
  };
}

export function asyncApiDocument(): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  const channelMessages: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const ref = (k: string) => ({ $ref: `#/channels/socket/messages/${k}` });
  const channel = { $ref: '#/channels/socket' };

  for (const a of ACTIONS) {
    if (!a.event) continue;
    const k = key(a.event);
    messages[k] = {
      name: a.event, title: a.event, summary: a.summary, contentType: 'application/json',
      payload: jsonSchema(a.payload, 'input'),
    };
    messages[`${k}.ack`] = {
      name: `${a.event} ack`, title: `${a.event} ack`, contentType: 'application/json',
      summary: `The ack of ${a.event}: { ok: true, data } or { ok: false, error: { code, message } }`,
      payload: ackSchema(a),
    };
    channelMessages[k] = { $ref: `#/components/messages/${k}` };
    channelMessages[`${k}.ack`] = { $ref: `#/components/messages/${k}.ack` };
    operations[a.name] = {
      action: 'send', channel, title: a.event, summary: a.summary,
      description: `Roles: ${a.roles.join(', ')} (others get FORBIDDEN). Codes: ${answerCodes(a, 'socket').join(', ')}.`,
      messages: [ref(k)],
      reply: { channel, messages: [ref(`${k}.ack`)] },
      'x-roles': a.roles,
      'x-codes': answerCodes(a, 'socket'),
    };
  }
  for (const p of PUSHES) {
    const k = key(p.event);
    messages[k] = { name: p.event, title: p.event, summary: p.summary, contentType: 'application/json', payload: jsonSchema(p.payload, 'output') };
    channelMessages[k] = { $ref: `#/components/messages/${k}` };
    operations[`push.${k}`] = {
      action: 'receive', channel, title: p.event, summary: p.summary,
      description: `Pushed to: ${p.to.join(', ')}.`,
      messages: [ref(k)],
      'x-to': p.to,
    };
  }

  const schemas: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(SHARED)) schemas[id] = component(s, 'output');

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Taxi dispatch Socket.IO API',
      version: PROTOCOL_VERSION,
      description:
        'Socket.IO v4, default namespace, websocket and long-polling transports. Connect with ' +
        '`io(url, { auth: { token, protocol } })`; every client event carries an ack callback answered with ' +
        '`{ ok: true, data }` or `{ ok: false, error: { code, message } }`. A `send` operation is a client event and its ' +
        `\`reply\` the ack; a \`receive\` operation is a push. Majors served: ${SUPPORTED_MAJORS.join(', ')}. ` +
        'docs/protocol.md is the full contract; /openapi.json the REST mirror.',
      license: { name: 'MIT' },
    },
    defaultContentType: 'application/json',
    servers: {
      gateway: {
        host: 'localhost:3000', protocol: 'ws', pathname: '/socket.io/',
        title: 'A gateway', description: 'Any gateway of the deployment (behind the load balancer); Engine.IO path /socket.io/.',
        security: [{ $ref: '#/components/securitySchemes/jwt' }],
      },
    },
    channels: {
      socket: {
        address: '/', title: 'Default namespace',
        description: 'The one namespace. Each socket joins its user\'s room; pushes reach the user on any gateway.',
        messages: channelMessages,
        servers: [{ $ref: '#/servers/gateway' }],
      },
    },
    operations,
    components: {
      schemas,
      messages,
      securitySchemes: {
        jwt: {
          type: 'http', scheme: 'bearer', bearerFormat: 'JWT',
          description:
            'HS256 JWT with `sub`, `role` (passenger | driver | admin) and `exp`, sent in the Socket.IO handshake as `auth.token`. ' +
            'A missing or bad token is refused with connect_error `UNAUTHORIZED`; an unsupported `auth.protocol` with `VALIDATION_FAILED`.',
        },
      },
    },
  };
}
