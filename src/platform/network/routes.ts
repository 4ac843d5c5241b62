/** /api/v1/networks: bridges with dnsmasq DHCP/DNS, NAT on request. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PlatformContext } from '../context.js';
import { addRoute, errors } from '../http/route.js';
import type { JsonSchema } from '../vms/vm-model.js';
import { RESOURCE_NAME_PATTERN } from '../storage/names.js';
import type { NetworkManager } from './manager.js';

const NAME: JsonSchema = { type: 'string', pattern: RESOURCE_NAME_PATTERN.source, maxLength: 128 };

export const networkSchema: JsonSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    subnet: { type: 'string' },
    nat: { type: 'boolean' },
    bridge: { type: 'string' },
    gateway: { type: 'string' },
    dhcp: { type: 'object', properties: { start: { type: 'string' }, end: { type: 'string' } } },
    dnsmasq: { type: 'object', properties: { running: { type: 'boolean' }, pid: { type: 'integer' } } },
    nics: { type: 'integer' },
    createdAt: { type: 'string' },
  },
};

type NetParams = { Params: { name: string } };
const params: JsonSchema = { type: 'object', additionalProperties: false, required: ['name'], properties: { name: NAME } };

export function registerNetworkRoutes(app: FastifyInstance, _ctx: PlatformContext, networks: NetworkManager): void {
  const tags = ['networks'];
  addRoute(app, {
    method: 'GET', url: '/api/v1/networks', access: 'viewer',
    schema: { summary: 'List networks', tags, response: { 200: { type: 'object', properties: { networks: { type: 'array', items: networkSchema } } }, ...errors() } },
    handler: () => ({ networks: networks.list() }),
  });
  addRoute(app, {
    method: 'POST', url: '/api/v1/networks', access: 'admin',
    schema: {
      summary: 'Create a network: a bridge with DHCP/DNS (dnsmasq); NAT to the uplink only with nat: true', tags,
      body: {
        type: 'object', additionalProperties: false, required: ['name', 'subnet'],
        properties: { name: NAME, subnet: { type: 'string', maxLength: 18, description: 'IPv4 CIDR, e.g. 10.77.0.0/24' }, nat: { type: 'boolean' } },
      },
      response: { 201: networkSchema, ...errors(409) },
    },
    handler: async (req, reply) => reply.code(201).send(await networks.create(req.body as { name: string; subnet: string; nat?: boolean })),
  });
  addRoute(app, {
    method: 'GET', url: '/api/v1/networks/:name', access: 'viewer',
    schema: { summary: 'One network', tags, params, response: { 200: networkSchema, ...errors(404) } },
    handler: (req) => networks.get((req as FastifyRequest<NetParams>).params.name),
  });
  addRoute(app, {
    method: 'DELETE', url: '/api/v1/networks/:name', access: 'admin',
    schema: { summary: 'Delete a network (refused while NICs use it)', tags, params, response: { 204: { type: 'null' }, ...errors(404, 409) } },
    handler: async (req, reply) => {
      await networks.delete((req as FastifyRequest<NetParams>).params.name);
      return reply.code(204).send();
    },
  });
}
