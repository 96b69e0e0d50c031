// Package api serves the job engine (package job) as the
// jobmanager.v1.JobManagerService over Connect, gRPC and gRPC-Web, on an
// mTLS HTTP/2 listener, with gRPC reflection and health.
//
// It is deliberately thin: the identity middleware puts the caller's
// certificate CommonName on the request context, the handlers decode the
// request, call the engine and map its errors to status codes. No business
// rule lives here.
package api
