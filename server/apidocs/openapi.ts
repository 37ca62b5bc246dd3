/**
 * The OpenAPI 3.1 document of every REST route, generated from protocol/: the action table
 * (route, roles, body, result, codes) and the zod schemas. Never edited by hand: `npm run docs`.
 */
import { z } from 'zod';
import {
  createDocument, type ZodOpenApiOperationObject, type ZodOpenApiOverrideContext, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject,
} from 'zod-openapi';
import {
  ACTIONS, answerCodes, Call, ErrorCode, HTTP_ROUTES, HTTP_STATUS, Id, LatLng, Offer, pathIdField, Place, PROTOCOL_VERSION, routeHasId, WireError,
  type Action, type HttpRoute, type RestRoute,
} from '../../protocol/index.js';

/** `/api/calls/:id` → `/api/calls/{id}`. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}');

/** The error body of one status, its code narrowed to the ones this route answers with it. */
function errorResponse(codes: ErrorCode[]) {
  const [first, ...rest] = codes as [ErrorCode, ...ErrorCode[]];
  return {
    description: codes.join(', '),
    content: {
      'application/json': {
        schema: z.object({ error: z.object({ code: z.enum([first, ...rest]), message: z.string() }) }),
      },
    },
  };
}

/** One error response per HTTP status the codes map to, in status order. */
function errorResponses(codes: readonly ErrorCode[]): Record<string, ZodOpenApiResponseObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(HTTP_STATUS[code], [...(byStatus.get(HTTP_STATUS[code]) ?? []), code]);
  return Object.fromEntries([...byStatus].sort(([x], [y]) => x - y).map(([status, list]) => [status, errorResponse(list)]));
}

function actionOperation(a: Action, route: RestRoute): ZodOpenApiOperationObject {
  // A streamed answer: one result per line (RestRoute.ndjson).
  const success = route.ndjson
    ? { description: 'Success: NDJSON, one line per value, the end line last', content: { 'application/x-ndjson': { schema: a.result } } }
    : { description: 'Success', content: { 'application/json': { schema: a.result } } };
  const responses: Record<string, ZodOpenApiResponseObject> = { [route.status]: success };
  if (route.also) responses[route.also.status] = { ...success, description: `Success: ${route.also.when}` };
  Object.assign(responses, errorResponses(answerCodes(a, 'rest')));
  const params = routeHasId(route) ? { path: z.object({ id: Id.describe(`The payload's \`${pathIdField(route)}\``) }) } : undefined;
  return {
    operationId: a.name,
    summary: a.summary,
    description: `Roles: ${a.roles.join(', ')}.${a.event ? ` Same action as the Socket.IO event \`${a.event}\`.` : ''} ` +
      `Codes of its own: ${a.codes.join(', ')}.`,
    tags: [a.name.split('.')[0] ?? 'calls'],
    security: [{ bearer: [] }],
    ...(params || route.query ? { requestParams: { ...params, ...(route.query ? { query: route.query } : {}) } } : {}),
    ...(route.body ? { requestBody: { required: false, content: { 'application/json': { schema: route.body } } } } : {}),
    responses,
    'x-roles': a.roles,
    'x-codes': answerCodes(a, 'rest'),
  } as ZodOpenApiOperationObject;
}

const MEDIA: Record<HttpRoute['type'], string> = { json: 'application/json', text: 'text/plain', html: 'text/html' };

function plainOperation(r: HttpRoute): ZodOpenApiOperationObject {
  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, what] of Object.entries(r.responses)) {
    responses[status] = { description: what, content: { [MEDIA[r.type]]: { schema: r.type === 'json' ? z.looseObject({}) : z.string() } } };
  }
  Object.assign(responses, errorResponses(r.codes ?? []));
  return {
    operationId: `http.${r.path.replace(/[^a-z]/g, '')}`,
    summary: r.summary,
    tags: ['operations'],
    security: r.metricsToken ? [{}, { metricsToken: [] }] : [],
    responses,
  };
}

/**
 * Objects the server sends stay open (no `additionalProperties: false`): a minor version may add
 * fields, and clients ignore the ones they do not know (docs/protocol.md, "Versions").
 */
function openObjects(ctx: ZodOpenApiOverrideContext): void {
  const schema = ctx.jsonSchema as { additionalProperties?: unknown };
  if (ctx.io === 'output' && schema.additionalProperties === false) delete schema.additionalProperties;
}

export function openApiDocument(): Record<string, unknown> {
  const paths: ZodOpenApiPathsObject = {};
  for (const a of ACTIONS) {
    const p = openApiPath(a.route.path);
    paths[p] = { ...paths[p], [a.route.method]: actionOperation(a, a.route) };
  }
  for (const r of HTTP_ROUTES) paths[r.path] = { get: plainOperation(r) };
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Taxi dispatch REST API',
      version: PROTOCOL_VERSION,
      description:
        'Every action of the Socket.IO API (see /asyncapi.json) as a route, with the same token, payloads, rules and error codes. ' +
        'Every error answers `{ "error": { "code", "message" } }`; docs/protocol.md is the full contract.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'this gateway' }],
    tags: [
      { name: 'call', description: 'Calls: request, read, list, the open ones, cancel' },
      { name: 'driver', description: 'A driver going online or offline, and its position' },
      { name: 'offer', description: 'A driver answering an offer' },
      { name: 'trip', description: 'The assigned driver running the trip, or backing out' },
      { name: 'operations', description: 'Probes, metrics and these documents' },
    ],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'HS256 JWT with `sub`, `role` (passenger | driver | admin) and `exp`' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when the server sets one' },
      },
      schemas: { Call, Place, LatLng, Offer, WireError },
    },
    paths,
  }, { override: openObjects }) as unknown as Record<string, unknown>;
}
