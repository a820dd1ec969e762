#ifndef ADMIN_SESSION_H
#define ADMIN_SESSION_H
/* session.h: who is calling the console (admin/session.c). Admin users (admin_users_file,
 * argon2id), login with per-user and per-address failure counting and lockout, server-side
 * sessions (cookie "__Host-mg_session": Secure, HttpOnly, SameSite=Strict, Path=/; idle and
 * absolute timeouts), one CSRF token per session, API tokens (admin_tokens_file, SHA-256 of the
 * token stored, compared in constant time). */
#include <stddef.h>

#include "admin/http.h"
#include "config/config.h"

/* Loads users and tokens (again on reload); logs problems, never exits. */
void admin_session_configure(const struct mg_config *cfg);

/* The router calls this before every handler. Sets req->who and req->csrf and returns 0 to go on;
 * or fills resp and returns -1: pages without a valid session -> 303 to /login?next=PATH; API
 * without valid token/session -> 401 JSON; a state-changing request (POST/PUT/DELETE) of a
 * session without the right CSRF token (form field "csrf" or header X-CSRF-Token) -> 403;
 * ROUTE_PUBLIC routes always go on (who set when a session happens to be valid). */
int admin_session_check(struct http_request *req, unsigned route_flags,
    struct http_response *resp);

/* Admin users, for the users page (the file is rewritten atomically; argon2id hashing runs
 * inline: ~50 ms). password must be 12..1024 bytes. Return 0 or -1 with *error_r. Removing the
 * last admin is refused. Changing a password ends that user's other sessions. */
int admin_user_set(const char *user, const char *password, const char **error_r);
int admin_user_remove(const char *user, const char **error_r);
/* Names in file order; returns the count (at most max). */
size_t admin_user_list(char (*names)[64], size_t max);

/* API tokens: creates NAME and returns the token text once (hex, 32 random bytes) in token_r. */
int admin_token_create(const char *name, char *token_r, size_t size, const char **error_r);
int admin_token_remove(const char *name, const char **error_r);
size_t admin_token_list(char (*names)[64], size_t max);

#endif
