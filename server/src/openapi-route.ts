import express, { type Router } from 'express';
import { ROUTES } from '@livevote/contract';
import { buildOpenApiDocument } from '@livevote/contract/openapi';

/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 document, generated from the contract's schemas
 * (`@livevote/contract/openapi`). Built once per process: it only changes with the code.
 */
export function openApiRoute(): Router {
  const body = JSON.stringify(buildOpenApiDocument());
  const router = express.Router();
  router.get(ROUTES.openapi, (_req, res) => {
    res.set('cache-control', 'public, max-age=300');
    res.type('application/json').send(body);
  });
  return router;
}
