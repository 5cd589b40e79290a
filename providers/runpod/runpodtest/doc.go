// Package runpodtest is a fake of RunPod for tests: REST v2's pods,
// actions, logs and GPU catalog, and the HTTP proxy in front of pods, on one
// loopback port (httptest). It follows the real service where it is picky
// (a closed create schema answered with 422, Go's default User-Agent
// refused, 409 for an action a status does not allow, 404 after terminate,
// RUNNING reported while runtime is still null) and lets tests inject what
// costs money in production: 500s and 429s, creates that succeed but answer
// 500, capacity refusals, slow answers, lists that lag, pods terminated or
// stopped behind the provider's back.
//
// Pod lifecycles follow Options.Now; with a shared Clock, minutes of image
// pulls pass in no real time. The proxy forwards a pod's port to whatever
// Options.Upstream returns for it, such as a simulated server configured
// from the pod's command line and environment.
//
// The fake compares the API key it is given and keeps it nowhere else; its
// request log holds methods, paths and statuses only.
//
// It imports nothing from the project, so that any package's tests can use
// it.
package runpodtest
