/*
 * spank_qrmid — Slurm SPANK plugin that obtains a job's QPUs from the site's QRMI
 * daemon (qrmid) instead of holding QPU credentials itself.
 *
 *   sbatch --qpu=sc_twin,FRESNEL [--qpu-profile=production] job.sh
 *
 * plugstack.conf:
 *   required /usr/lib/slurm/spank_qrmid.so url=http://10.77.0.20:8470 [munge_socket=PATH]
 *            [timeout=30] [max_wait=3600]
 * (the same file on login and compute nodes; slurmd reads it too, for the job epilog)
 *
 * Contexts:
 * - local/allocator (sbatch, salloc, srun): records the QPU list in the job's SPANK
 *   environment (QRMID_QPUS; Slurm forwards the option itself there too) so
 *   job_submit.lua on the controller can add the QPUs' licenses — the job then
 *   waits in Slurm's queue, not on a node.
 * - remote (slurmstepd, as root), every step of a job with --qpu (the batch step,
 *   srun steps, salloc's steps; not the extern step): removes every QRMI variable
 *   the user brought (QRMI_*, QRMID_*, SLURM_JOB_QPU_*, <name>_QRMI_*), asks qrmid
 *   for the job's acquisition, signed with a munge credential that carries the
 *   request itself, and exports what qrmid returns (QRMI_JOB_QPU_RESOURCES,
 *   QRMI_JOB_QPU_TYPES, SLURM_JOB_QPU_*, QRMI_JOB_ID, QRMI_JOB_UID,
 *   <name>_QRMI_JOB_ACQUISITION_TOKEN, <name>_QRMI_JOB_TIMEOUT_SECONDS, per-resource
 *   settings with job-scoped credentials), overwriting whatever was there. qrmid
 *   answers every step of a job with the job's one acquisition (same job id → same
 *   acquisition), so a job acquires once however many steps and tasks it runs.
 *   A step other than the batch step only joins what the job was submitted with
 *   (its licenses, read from slurmctld), and never starts a second acquisition
 *   once the job's first one has ended (hold limit, reaper). The job's time limit
 *   (from slurmctld) goes with the request; qrmid caps the hold with it.
 * - remote, task init: prints qrmid's messages on the step's stderr, and fails the
 *   step with the reason when no QPU could be acquired.
 * - release: the batch step's slurm_spank_exit (sbatch jobs, also on scancel), and
 *   slurm_spank_job_epilog in slurmd (job_script context) for every job with --qpu
 *   when the job ends on the node — the release of salloc/srun jobs, whose steps
 *   come and go while the acquisition stays.
 *
 * Only libc and libmunge: HTTP/1.1 over a plain socket to qrmid (a cluster-internal
 * service), responses in qrmid's line format (?format=env).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <munge.h>
#include <slurm/slurm.h>
#include <slurm/spank.h>

SPANK_PLUGIN(qrmid, 1);

/*
 * The Slurm API of the process that loads the plugin (slurmstepd, srun, sbatch and
 * slurmd all link libslurmfull): the job's licenses and time limit come from
 * slurmctld. Weak, so that a process without it still loads the plugin.
 */
#pragma weak slurm_load_job
#pragma weak slurm_free_job_info_msg
#pragma weak slurm_strerror

#define MAX_RESPONSE (1024 * 1024)
#define POLL_WAIT_S 20

/* configuration (plugstack.conf arguments) */
static char cfg_host[256] = "127.0.0.1";
static char cfg_port[16] = "8470";
static char cfg_munge_socket[4096] = "";
static int cfg_timeout_s = 30;
static int cfg_max_wait_s = 3600;

/* options */
static char *opt_qpus = NULL;
static char *opt_profile = NULL;

/* state of the step (remote context) */
static int joined = 0;       /* this step acquires for the job (batch step or another step with --qpu) */
static int sent_request = 0;
static char *failure = NULL; /* shown on the job's stderr, then the job fails */
static char *notice = NULL;  /* shown on the job's stderr */

static int set_qpus(int val, const char *arg, int remote);
static int set_profile(int val, const char *arg, int remote);

static struct spank_option qpu_option = {
    "qpu", "names",
    "QPU(s) for this job, comma separated (e.g. --qpu=sc_twin,FRESNEL); acquired through the site's qrmid",
    1, 0, set_qpus};
static struct spank_option profile_option = {
    "qpu-profile", "name", "QPU policy profile to run under (default: your highest-priority profile)", 1, 0,
    set_profile};

/* ------------------------------------------------------------------ helpers */

static char *xstrdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

static void set_failure(char *msg)
{
    free(failure);
    failure = msg;
}

static void add_notice(const char *msg)
{
    if (!msg)
        return;
    char *joined = notice ? xstrdup_printf("%s\n%s", notice, msg) : strdup(msg);
    free(notice);
    notice = joined;
}

/* QPU names are letters, digits, '_' (the site model's QpuName), separated by ',' */
static int valid_list(const char *s, int allow_comma)
{
    if (!s || !*s || strlen(s) > 1024)
        return 0;
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || (allow_comma && *p == ',')))
            return 0;
    }
    return 1;
}

static int set_qpus(int val, const char *arg, int remote)
{
    (void)val;
    (void)remote;
    if (!valid_list(arg, 1)) {
        slurm_error("qrmid: --qpu expects QPU names separated by commas (letters, digits, '_'), got '%s'",
                    arg ? arg : "");
        return -1;
    }
    free(opt_qpus);
    opt_qpus = strdup(arg);
    return 0;
}

static int set_profile(int val, const char *arg, int remote)
{
    (void)val;
    (void)remote;
    if (!valid_list(arg, 0)) {
        slurm_error("qrmid: --qpu-profile expects a profile name, got '%s'", arg ? arg : "");
        return -1;
    }
    free(opt_profile);
    opt_profile = strdup(arg);
    return 0;
}

static void parse_args(int ac, char **av)
{
    for (int i = 0; i < ac; i++) {
        const char *a = av[i];
        if (!strncmp(a, "url=", 4)) {
            /* http://host:port — qrmid is a cluster-internal service */
            const char *h = a + 4;
            if (!strncmp(h, "http://", 7))
                h += 7;
            const char *colon = strrchr(h, ':');
            size_t hl = colon ? (size_t)(colon - h) : strcspn(h, "/");
            if (hl >= sizeof(cfg_host))
                hl = sizeof(cfg_host) - 1;
            memcpy(cfg_host, h, hl);
            cfg_host[hl] = 0;
            if (colon)
                snprintf(cfg_port, sizeof(cfg_port), "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
        } else if (!strncmp(a, "munge_socket=", 13)) {
            snprintf(cfg_munge_socket, sizeof(cfg_munge_socket), "%s", a + 13);
        } else if (!strncmp(a, "timeout=", 8)) {
            cfg_timeout_s = atoi(a + 8) > 0 ? atoi(a + 8) : cfg_timeout_s;
        } else if (!strncmp(a, "max_wait=", 9)) {
            cfg_max_wait_s = atoi(a + 9) >= 0 ? atoi(a + 9) : cfg_max_wait_s;
        } else {
            slurm_error("qrmid: ignoring unknown plugstack argument '%s'", a);
        }
    }
}

/* ------------------------------------------------------------------ munge + HTTP */

static char *munge_credential(const char *payload, size_t len, char **err)
{
    munge_ctx_t ctx = munge_ctx_create();
    char *cred = NULL;
    munge_err_t rc;
    if (!ctx) {
        *err = strdup("cannot create a munge context");
        return NULL;
    }
    if (cfg_munge_socket[0])
        munge_ctx_set(ctx, MUNGE_OPT_SOCKET, cfg_munge_socket);
    rc = munge_encode(&cred, ctx, payload, (int)len);
    if (rc != EMUNGE_SUCCESS) {
        *err = xstrdup_printf("munge could not sign the request: %s (is munged running?)", munge_strerror(rc));
        cred = NULL;
    }
    munge_ctx_destroy(ctx);
    return cred;
}

/*
 * One HTTP/1.1 request to qrmid, signed with munge. Returns the HTTP status
 * (or -1 with *err set) and the response body in *body (caller frees).
 */
static int http_call(const char *method, const char *path, const char *json, int read_timeout_s, char **body,
                     char **err)
{
    struct addrinfo hints = {0}, *res = NULL, *ai;
    int fd = -1, status = -1, rc;
    size_t json_len = json ? strlen(json) : 0;
    char *payload = NULL, *cred = NULL, *request = NULL, *buf = NULL;
    size_t used = 0;

    *body = NULL;
    *err = NULL;
    payload = xstrdup_printf("%s %s\n%s", method, path, json ? json : "");
    if (!payload) {
        *err = strdup("out of memory");
        return -1;
    }
    cred = munge_credential(payload, strlen(payload), err);
    if (!cred)
        goto out;
    request = xstrdup_printf("%s %s HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Munge %s\r\n"
                             "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                             method, path, cfg_host, cfg_port, cred, json_len, json ? json : "");

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(cfg_host, cfg_port, &hints, &res)) != 0) {
        *err = xstrdup_printf("cannot resolve qrmid host %s: %s", cfg_host, gai_strerror(rc));
        goto out;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        struct timeval tv = {.tv_sec = cfg_timeout_s};
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        /* SO_SNDTIMEO also bounds connect() on Linux */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        tv.tv_sec = read_timeout_s;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        *err = xstrdup_printf("cannot connect to qrmid at %s:%s: %s", cfg_host, cfg_port, strerror(errno));
        goto out;
    }
    for (size_t off = 0, len = strlen(request); off < len;) {
        ssize_t n = write(fd, request + off, len - off);
        if (n <= 0) {
            *err = xstrdup_printf("sending to qrmid failed: %s", strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    buf = malloc(MAX_RESPONSE + 1);
    if (!buf) {
        *err = strdup("out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + used, MAX_RESPONSE - used);
        if (n < 0) {
            *err = xstrdup_printf("reading qrmid's answer failed: %s", strerror(errno));
            goto out;
        }
        if (n == 0 || used + (size_t)n >= MAX_RESPONSE) {
            used += (size_t)(n > 0 ? n : 0);
            break;
        }
        used += (size_t)n;
    }
    buf[used] = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        *err = strdup("qrmid sent an answer that is not HTTP");
        status = -1;
        goto out;
    }
    char *start = strstr(buf, "\r\n\r\n");
    *body = strdup(start ? start + 4 : "");
out:
    if (fd >= 0)
        close(fd);
    if (res)
        freeaddrinfo(res);
    free(buf);
    free(request);
    free(cred);
    free(payload);
    return status;
}

/* value of "key=" on its own line in qrmid's env format, or of "detail" in a JSON error */
static char *field(const char *body, const char *key)
{
    size_t kl = strlen(key);
    for (const char *line = body; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > kl && !strncmp(line, key, kl) && line[kl] == '=')
            return strndup(line + kl + 1, len - kl - 1);
        line = end ? end + 1 : NULL;
    }
    const char *d = strstr(body, "\"detail\":\"");
    if (d && !strcmp(key, "message")) {
        d += 10;
        char *out = malloc(strlen(d) + 1), *o = out;
        if (!out)
            return NULL;
        for (; *d && *d != '"'; d++) {
            if (*d == '\\' && d[1])
                d++;
            *o++ = *d;
        }
        *o = 0;
        return out;
    }
    return NULL;
}

/* ------------------------------------------------------------------ job details */

static char *json_groups(const char *user, gid_t gid)
{
    int n = 64;
    gid_t *gids = malloc(sizeof(gid_t) * (size_t)n);
    if (!gids)
        return strdup("[]");
    if (getgrouplist(user, gid, gids, &n) < 0) {
        gid_t *more = realloc(gids, sizeof(gid_t) * (size_t)n);
        if (!more || getgrouplist(user, gid, more, &n) < 0) {
            free(more ? more : gids);
            return strdup("[]");
        }
        gids = more;
    }
    size_t cap = 2 + (size_t)n * 68, len = 0;
    char *out = malloc(cap);
    if (!out) {
        free(gids);
        return strdup("[]");
    }
    out[len++] = '[';
    for (int i = 0; i < n; i++) {
        struct group gr, *found = NULL;
        char gbuf[4096];
        if (getgrgid_r(gids[i], &gr, gbuf, sizeof(gbuf), &found) != 0 || !found || !valid_list(gr.gr_name, 0) ||
            strlen(gr.gr_name) > 64)
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\"", len > 1 ? "," : "", gr.gr_name);
    }
    out[len++] = ']';
    out[len] = 0;
    free(gids);
    return out;
}

static char *json_qpus(const char *list)
{
    size_t cap = strlen(list) * 3 + 8, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[len++] = '[';
    char *copy = strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\"", len > 1 ? "," : "", tok);
    out[len++] = ']';
    out[len] = 0;
    free(copy);
    return out;
}

/*
 * The QRMI contract belongs to qrmid: whatever the user brought for it is removed
 * before qrmid's values go in — QRMI_* (incl. QRMI_LIST_DELIMITER), QRMID_*,
 * SLURM_JOB_QPU_*, and <name>_QRMI_* for any name. A value the user set (e.g.
 * <qpu>_QRMI_JOB_TIMEOUT_SECONDS=0, which qrmi reads as "no limit") never survives.
 */
static int contract_variable(const char *name, size_t len)
{
    static const char *prefixes[] = {"QRMI_", "QRMID_", "SLURM_JOB_QPU_"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (len >= strlen(prefixes[i]) && !strncmp(name, prefixes[i], strlen(prefixes[i])))
            return 1;
    return memmem(name, len, "_QRMI_", 6) != NULL;
}

static int scrub_environment(spank_t sp)
{
    char **env = NULL, **names = NULL;
    size_t n = 0, count = 0;
    int removed = 0;
    if (spank_get_item(sp, S_JOB_ENV, &env) != ESPANK_SUCCESS || !env)
        return 0;
    for (char **e = env; *e; e++)
        n++;
    names = calloc(n + 1, sizeof(char *));
    if (!names)
        return 0;
    for (char **e = env; *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        if (contract_variable(*e, len))
            names[count++] = strndup(*e, len);
    }
    /* unset after the scan: spank_unsetenv changes the array being read */
    for (size_t i = 0; i < count; i++) {
        if (names[i] && spank_unsetenv(sp, names[i]) == ESPANK_SUCCESS)
            removed++;
        free(names[i]);
    }
    free(names);
    return removed;
}

/* export env=K=V lines, overwriting: qrmid's values are the contract */
static int export_environment(spank_t sp, const char *body)
{
    int count = 0;
    for (const char *line = body; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 4 && !strncmp(line, "env=", 4)) {
            char *kv = strndup(line + 4, len - 4);
            char *eq = kv ? strchr(kv, '=') : NULL;
            if (eq) {
                *eq = 0;
                spank_err_t rc = spank_setenv(sp, kv, eq + 1, 1);
                if (rc == ESPANK_SUCCESS)
                    count++;
                else
                    slurm_error("qrmid: cannot set %s: %s", kv, spank_strerror(rc));
            }
            free(kv);
        }
        line = end ? end + 1 : NULL;
    }
    return count;
}

/* first "key":"value" (or "key":null → NULL) in a compact JSON answer */
static char *json_string(const char *body, const char *key)
{
    char *pat = xstrdup_printf("\"%s\":\"", key);
    const char *d = pat ? strstr(body, pat) : NULL;
    char *out = NULL, *o;
    if (d) {
        d += strlen(pat);
        out = malloc(strlen(d) + 1);
        for (o = out; out && *d && *d != '"'; d++) {
            if (*d == '\\' && d[1])
                d++;
            *o++ = *d;
        }
        if (out)
            *o = 0;
    }
    free(pat);
    return out;
}

/* ------------------------------------------------------------------ the job, from slurmctld */

struct job_facts {
    int known;           /* slurmctld answered */
    char *licenses;      /* "sc_twin:1,FRESNEL:1" */
    long time_left_s;    /* 0: no limit known */
};

static void load_job(uint32_t job_id, struct job_facts *jf, char **err)
{
    job_info_msg_t *msg = NULL;
    memset(jf, 0, sizeof(*jf));
    if (!slurm_load_job || !slurm_free_job_info_msg) {
        *err = strdup("this Slurm process offers no slurm_load_job()");
        return;
    }
    if (slurm_load_job(&msg, job_id, SHOW_ALL) != 0 || !msg || msg->record_count < 1) {
        int e = errno;
        *err = xstrdup_printf("slurmctld did not describe job %u: %s", job_id,
                              slurm_strerror ? slurm_strerror(e) : strerror(e));
        if (msg)
            slurm_free_job_info_msg(msg);
        return;
    }
    slurm_job_info_t *job = &msg->job_array[0];
    jf->known = 1;
    jf->licenses = strdup(job->licenses ? job->licenses : "");
    time_t now = time(NULL);
    if (job->time_limit != INFINITE && job->time_limit != NO_VAL && job->end_time > now)
        jf->time_left_s = (long)(job->end_time - now);
    slurm_free_job_info_msg(msg);
}

/* every QPU in the list is one of the job's licenses (what job_submit.lua added at submission) */
static char *unlicensed(const char *qpus, const char *licenses)
{
    char *copy = strdup(qpus), *save = NULL, *missing = NULL;
    for (char *q = strtok_r(copy, ",", &save); q; q = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (const char *l = licenses; l && *l;) {
            size_t len = strcspn(l, ":*@,");
            if (len == strlen(q) && !strncmp(l, q, len))
                found = 1;
            l = strchr(l, ',');
            l = l ? l + 1 : NULL;
        }
        if (!found) {
            char *m = missing ? xstrdup_printf("%s,%s", missing, q) : strdup(q);
            free(missing);
            missing = m;
        }
    }
    free(copy);
    return missing;
}

/* ------------------------------------------------------------------ acquisition */

static void acquire(spank_t sp, uint32_t job_id, long time_limit_s)
{
    uid_t uid;
    gid_t gid;
    struct passwd pw, *found = NULL;
    char pwbuf[4096];
    char *groups = NULL, *qpus = NULL, *req = NULL, *body = NULL, *err = NULL, *acq = NULL, *msg = NULL;
    char path[256], limit[64] = "";
    int status = -1;
    time_t started = time(NULL);

    if (spank_get_item(sp, S_JOB_UID, &uid) != ESPANK_SUCCESS || spank_get_item(sp, S_JOB_GID, &gid) != ESPANK_SUCCESS) {
        set_failure(strdup("cannot read the job's uid/gid"));
        return;
    }
    if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &found) != 0 || !found) {
        set_failure(xstrdup_printf("uid %u has no passwd entry on this node", (unsigned)uid));
        return;
    }
    groups = json_groups(pw.pw_name, gid);
    qpus = json_qpus(opt_qpus);
    if (time_limit_s > 0)
        snprintf(limit, sizeof(limit), ",\"time_limit_s\":%ld", time_limit_s);
    req = xstrdup_printf("{\"job_id\":\"%u\",\"user\":\"%s\",\"uid\":%u,\"groups\":%s,\"qpus\":%s%s%s%s%s,\"wait_s\":%d}",
                         job_id, pw.pw_name, (unsigned)uid, groups, qpus ? qpus : "[]", limit,
                         opt_profile ? ",\"profile\":\"" : "", opt_profile ? opt_profile : "",
                         opt_profile ? "\"" : "", POLL_WAIT_S);
    sent_request = 1;
    /* qrmid answers a repeated request for the same job with the same acquisition: retries are safe */
    for (int attempt = 0; attempt < 4; attempt++) {
        free(body);
        free(err);
        status = http_call("POST", "/v1/acquisitions?format=env", req, POLL_WAIT_S + cfg_timeout_s, &body, &err);
        if (status > 0 && status < 500)
            break;
        sleep(2u << attempt);
    }
    while (status == 202) {
        free(acq);
        acq = field(body, "acquisition");
        msg = field(body, "message");
        if (msg)
            slurm_info("qrmid: job %u: %s", job_id, msg);
        if (!acq || time(NULL) - started > cfg_max_wait_s) {
            set_failure(xstrdup_printf("gave up waiting for QPU(s) %s after %ld s: %s", opt_qpus,
                                       (long)(time(NULL) - started), msg ? msg : "no answer"));
            free(msg);
            goto out;
        }
        free(msg);
        snprintf(path, sizeof(path), "/v1/acquisitions/%s?wait_s=%d&format=env", acq, POLL_WAIT_S);
        free(body);
        free(err);
        status = http_call("GET", path, NULL, POLL_WAIT_S + cfg_timeout_s, &body, &err);
        if (status < 0 || status >= 500) {
            sleep(2);
            status = 202; /* qrmid restarting: keep polling the same acquisition */
        }
    }
    msg = body ? field(body, "message") : NULL;
    if (status == 201) {
        int n = export_environment(sp, body);
        long waited = (long)(time(NULL) - started);
        if (waited >= 5) {
            char *w = xstrdup_printf("QPU(s) %s granted after waiting %ld s", opt_qpus, waited);
            if (w)
                add_notice(w);
            free(w);
        }
        if (msg)
            add_notice(msg);
        slurm_info("qrmid: job %u: QPU(s) %s granted, %d variables exported", job_id, opt_qpus, n);
    } else if (status < 0) {
        set_failure(xstrdup_printf("no QPU acquired: %s; the QPU service is unavailable, try again later or "
                                   "contact the site operators",
                                   err ? err : "qrmid did not answer"));
    } else {
        set_failure(xstrdup_printf("no QPU acquired for %s: %s", opt_qpus, msg ? msg : "qrmid refused the request"));
    }
out:
    free(msg);
    free(acq);
    free(err);
    free(body);
    free(req);
    free(qpus);
    free(groups);
}

static void release(uint32_t job_id)
{
    char path[128], *body = NULL, *err = NULL;
    snprintf(path, sizeof(path), "/v1/jobs/%u/acquisitions", job_id);
    for (int attempt = 0; attempt < 3; attempt++) {
        int status = http_call("DELETE", path, NULL, cfg_timeout_s, &body, &err);
        if (status >= 200 && status < 300) {
            slurm_info("qrmid: job %u: QPU(s) released", job_id);
            break;
        }
        /* qrmid's reaper releases it later if this keeps failing */
        slurm_error("qrmid: job %u: release failed (%d): %s", job_id, status, err ? err : (body ? body : ""));
        free(body);
        free(err);
        body = err = NULL;
        sleep(1);
    }
    free(body);
    free(err);
}

/*
 * A step other than the batch step joins the job's acquisition; it never starts a
 * second one after the first has ended (hold limit reached, reaped, released):
 * a job holds its QPUs once, for at most what qrmid granted. NULL: go ahead.
 */
static char *ended_acquisition(uint32_t job_id)
{
    char path[128], *body = NULL, *err = NULL, *out = NULL;
    snprintf(path, sizeof(path), "/v1/acquisitions?job_id=%u&limit=1", job_id);
    int status = http_call("GET", path, NULL, cfg_timeout_s, &body, &err);
    if (status == 200 && body) {
        char *state = json_string(body, "state");
        if (state && (!strcmp(state, "released") || !strcmp(state, "releasing"))) {
            char *id = json_string(body, "id"), *outcome = json_string(body, "outcome");
            char *message = json_string(body, "message");
            out = xstrdup_printf("the job's QPU acquisition %s has ended (%s%s%s); a job holds its QPU(s) once — "
                                 "submit a new job for more QPU time",
                                 id ? id : "?", outcome ? outcome : state, message ? ": " : "", message ? message : "");
            free(id);
            free(outcome);
            free(message);
        }
        free(state);
    }
    /* qrmid unreachable: the POST that follows reports it */
    free(body);
    free(err);
    return out;
}

/* remote context, a step that runs the user's program (not the extern step) */
static int job_step(spank_t sp, uint32_t *job_id, uint32_t *step_id)
{
    if (spank_remote(sp) != 1)
        return 0;
    if (spank_get_item(sp, S_JOB_STEPID, step_id) != ESPANK_SUCCESS || *step_id == SLURM_EXTERN_CONT ||
        *step_id == SLURM_PENDING_STEP)
        return 0;
    return spank_get_item(sp, S_JOB_ID, job_id) == ESPANK_SUCCESS;
}

/* ------------------------------------------------------------------ SPANK entry points */

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    parse_args(ac, av);
    /* registered here (not through a static table) so that sbatch/salloc accept --qpu */
    if (spank_option_register(sp, &qpu_option) != ESPANK_SUCCESS ||
        spank_option_register(sp, &profile_option) != ESPANK_SUCCESS) {
        slurm_error("qrmid: cannot register --qpu/--qpu-profile");
        return -1;
    }
    return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    uint32_t job_id = 0, step_id = 0;
    struct job_facts jf;
    char *err = NULL;
    (void)ac;
    (void)av;
    if (!opt_qpus)
        return 0;
    spank_context_t ctx = spank_context();
    if (ctx == S_CTX_LOCAL || ctx == S_CTX_ALLOCATOR) {
        /* seen by job_submit.lua on the controller, which adds one license per QPU */
        if (spank_job_control_setenv(sp, "QRMID_QPUS", opt_qpus, 1) != ESPANK_SUCCESS)
            slurm_error("qrmid: cannot pass --qpu to the controller");
        return 0;
    }
    if (!job_step(sp, &job_id, &step_id))
        return 0;
    joined = 1;
    int removed = scrub_environment(sp);
    if (removed)
        slurm_info("qrmid: job %u.%u: removed %d QRMI variable(s) the job brought; qrmid's values replace them",
                   job_id, step_id, removed);
    load_job(job_id, &jf, &err);
    if (step_id != SLURM_BATCH_SCRIPT) {
        /*
         * srun/salloc steps: --qpu reaches the step from the submitting side (srun's
         * options or the allocation's environment), which the user controls; only the
         * QPUs the job holds licenses for may be used, as in the batch step.
         */
        char *missing = NULL;
        if (!jf.known)
            set_failure(xstrdup_printf("cannot check the job's QPU licenses: %s", err ? err : "unknown error"));
        else if ((missing = unlicensed(opt_qpus, jf.licenses)) != NULL)
            set_failure(xstrdup_printf("--qpu=%s: job %u was not submitted with QPU(s) %s (its licenses: %s); "
                                       "submit the job itself with --qpu (sbatch/salloc/srun --qpu=%s)",
                                       opt_qpus, job_id, missing, jf.licenses[0] ? jf.licenses : "none", opt_qpus));
        else
            set_failure(ended_acquisition(job_id));
        free(missing);
    }
    if (!failure)
        acquire(sp, job_id, jf.time_left_s);
    free(jf.licenses);
    free(err);
    return 0;
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    uint32_t job_id = 0, step_id = 0;
    (void)ac;
    (void)av;
    if (!opt_qpus || !joined || !job_step(sp, &job_id, &step_id))
        return 0;
    if (notice)
        fprintf(stderr, "qrmid: %s\n", notice);
    if (failure) {
        fprintf(stderr, "qrmid: job %u: %s\n", job_id, failure);
        fflush(stderr);
        return -1;
    }
    return 0;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
    uint32_t job_id = 0, step_id = 0;
    (void)ac;
    (void)av;
    /* the batch script is the job: its end is the job's end. Other steps leave the
       acquisition to the job epilog, for the steps that follow. */
    if (sent_request && job_step(sp, &job_id, &step_id) && step_id == SLURM_BATCH_SCRIPT)
        release(job_id);
    return 0;
}

/*
 * slurmd, when the job ends on this node (job_script context; the job's --qpu comes
 * from slurmctld's record of the submission). Releases what any step acquired;
 * runs on every node of the job — the release is idempotent. Never fails: a
 * failing epilog would drain the node; qrmid's reaper catches a missed release.
 */
int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
    uint32_t job_id = 0;
    char *qpus = NULL;
    if (spank_option_getopt(sp, &qpu_option, &qpus) != ESPANK_SUCCESS || !qpus || !*qpus)
        return 0;
    parse_args(ac, av); /* slurm_spank_init is not called in this context */
    if (spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS || !job_id) {
        const char *id = getenv("SLURM_JOB_ID");
        job_id = id ? (uint32_t)strtoul(id, NULL, 10) : 0;
    }
    if (job_id)
        release(job_id);
    return 0;
}
