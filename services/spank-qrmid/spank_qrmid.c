/*
 * spank_qrmid — Slurm SPANK plugin that obtains a job's QPUs from the site's QRMI
 * daemon (qrmid) instead of holding QPU credentials itself.
 *
 *   sbatch --qpu=sc_twin,FRESNEL [--qpu-profile=production] job.sh
 *
 * plugstack.conf:
 *   required /usr/local/lib/slurm/spank_qrmid.so url=https://qgw.example:8470 [cluster=NAME]
 *            [ca_file=PATH] [munge_socket=PATH] [timeout=30] [max_wait=3600]
 * (the same file on login and compute nodes; slurmd reads it too, for the job epilog)
 *
 * Contexts:
 * - local/allocator (sbatch, salloc, srun): --qpu travels in the job's SPANK
 *   environment (Slurm forwards the option as _SLURM_SPANK_OPTION_qrmid_qpu) where
 *   job_submit.lua on the controller turns it into the QPUs' licenses — the job then
 *   waits in Slurm's queue, not on a node — and checks the policy. The client's
 *   umask and SLURM_UMASK lose group/other access, so the steps' output files are
 *   created private (job_submit.lua enforces the same for batch jobs).
 * - remote (slurmstepd, as root), every step of a job with --qpu (the batch step,
 *   srun steps, salloc's steps; not the extern step): removes every QRMI variable
 *   the user brought (QRMI_*, QRMID_*, SLURM_JOB_QPU_*, <name>_QRMI_*), asks qrmid
 *   for the job's acquisition (POST /v1/acquisitions, JSON, signed with a munge
 *   credential that carries the request itself) and exports the environment qrmid
 *   returns — only keys of the QRMI contract (QRMI_*, QRMID_*, SLURM_JOB_QPU_*,
 *   <one of the job's QPUs>_QRMI_*), only values without control characters, within
 *   fixed bounds — overwriting whatever was there. qrmid answers every step of a job
 *   with the job's one acquisition, so a job acquires once however many steps and
 *   tasks it runs. A step other than the batch step only joins what the job was
 *   submitted with (its licenses, read from slurmctld), and never starts a second
 *   acquisition once the job's first one has ended. The job's time limit (from
 *   slurmctld) goes with the request; qrmid caps the hold with it.
 * - remote, task init (as the user): prints qrmid's messages on the step's stderr,
 *   fails the step with the reason when no QPU could be acquired, and keeps the
 *   task's files private (umask without group/other access; stdout/stderr files of
 *   the task made 0600): a --qpu job's environment holds job credentials.
 * - release: the batch step's slurm_spank_exit (sbatch jobs, also on scancel), and
 *   slurm_spank_job_epilog in slurmd (job_script context) for every job with --qpu
 *   when the job ends on the node — the release of salloc/srun jobs.
 *
 * HTTP(S) through libcurl (server certificates verified against the system CA store,
 * or ca_file=; never without verification), JSON through jansson.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
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

#define MAX_RESPONSE (256 * 1024) /* bytes of one answer from qrmid */
#define MAX_ENV_KEYS 256          /* variables one acquisition may export */
#define MAX_KEY_LEN 128
#define MAX_VALUE_LEN 8192
#define MAX_MESSAGE_LEN 1000 /* qrmid's messages, as shown to the user */
#define MAX_GROUPS 256
#define POLL_WAIT_S 20

/* configuration (plugstack.conf arguments) */
static char cfg_url[512] = "http://127.0.0.1:8470";
static char cfg_ca_file[4096] = "";
static char cfg_cluster[65] = "";
static char cfg_munge_socket[4096] = "";
static int cfg_timeout_s = 30;
static int cfg_max_wait_s = 3600;
static char *cfg_error = NULL; /* a plugstack argument that cannot be used: no QPU is acquired */

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
    char *more = notice ? xstrdup_printf("%s\n%s", notice, msg) : strdup(msg);
    free(notice);
    notice = more;
}

/* a copy of text from qrmid fit to print: control characters become spaces, bounded length */
static char *printable(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strnlen(s, MAX_MESSAGE_LEN);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[n] = 0;
    return out;
}

static int is_name_char(char c, int allow_comma)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           (allow_comma && c == ',');
}

/* QPU names are letters, digits, '_' (the site model's QpuName), separated by ',' */
static int valid_list(const char *s, int allow_comma)
{
    if (!s || !*s || strlen(s) > 1024)
        return 0;
    for (const char *p = s; *p; p++)
        if (!is_name_char(*p, allow_comma))
            return 0;
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
    if (!valid_list(arg, 0) || strlen(arg) > 63) {
        slurm_error("qrmid: --qpu-profile expects a profile name, got '%s'", arg ? arg : "");
        return -1;
    }
    free(opt_profile);
    opt_profile = strdup(arg);
    return 0;
}

static void config_error(char *msg)
{
    if (!msg)
        return;
    slurm_error("qrmid: %s", msg);
    free(cfg_error);
    cfg_error = msg;
}

/*
 * url=http(s)://host[:port][/] — scheme, host and port only: the path of each call is
 * the path qrmid sees, and the munge credential carries exactly that path.
 */
static int valid_url(const char *u)
{
    const char *h;
    if (!strncmp(u, "http://", 7))
        h = u + 7;
    else if (!strncmp(u, "https://", 8))
        h = u + 8;
    else
        return 0;
    if (strlen(u) >= sizeof(cfg_url))
        return 0;
    const char *p = h;
    if (*p == '[') { /* IPv6 literal */
        p++;
        while (*p && (isxdigit((unsigned char)*p) || *p == ':' || *p == '.'))
            p++;
        if (*p++ != ']')
            return 0;
    } else {
        while (*p && (isalnum((unsigned char)*p) || *p == '.' || *p == '-'))
            p++;
    }
    if (p == h)
        return 0;
    if (*p == ':') {
        const char *port = ++p;
        while (*p && isdigit((unsigned char)*p))
            p++;
        if (p == port || p - port > 5)
            return 0;
    }
    if (*p == '/')
        p++;
    return *p == 0;
}

static int valid_cluster(const char *c)
{
    size_t n = strlen(c);
    return n >= 1 && n <= 64 && valid_list(c, 0);
}

static void parse_args(int ac, char **av)
{
    for (int i = 0; i < ac; i++) {
        const char *a = av[i];
        if (!strncmp(a, "url=", 4)) {
            if (!valid_url(a + 4)) {
                config_error(xstrdup_printf("plugstack argument url= must be http(s)://host[:port], got '%s'", a + 4));
                continue;
            }
            snprintf(cfg_url, sizeof(cfg_url), "%s", a + 4);
            size_t n = strlen(cfg_url);
            if (n && cfg_url[n - 1] == '/')
                cfg_url[n - 1] = 0;
        } else if (!strncmp(a, "ca_file=", 8)) {
            if (a[8] != '/' || strlen(a + 8) >= sizeof(cfg_ca_file)) {
                config_error(xstrdup_printf("plugstack argument ca_file= must be an absolute path, got '%s'", a + 8));
                continue;
            }
            snprintf(cfg_ca_file, sizeof(cfg_ca_file), "%s", a + 8);
        } else if (!strncmp(a, "cluster=", 8)) {
            if (!valid_cluster(a + 8)) {
                config_error(xstrdup_printf("plugstack argument cluster= must be 1-64 letters, digits, '_' or '-', "
                                            "got '%s'", a + 8));
                continue;
            }
            snprintf(cfg_cluster, sizeof(cfg_cluster), "%s", a + 8);
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

struct buffer {
    char *data;
    size_t len;
    int too_big;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buffer *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > MAX_RESPONSE) {
        b->too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    char *more = realloc(b->data, b->len + n + 1);
    if (!more)
        return 0;
    memcpy(more + b->len, ptr, n);
    b->data = more;
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void init_curl(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/*
 * One request to qrmid, signed with munge: the credential's payload is
 * "<METHOD> <path?query>\n<body>" (qrmid's munge_auth.request_payload), the body sent
 * is exactly the body signed. Returns the HTTP status (or -1 with *err set); a JSON
 * answer is parsed into *answer (NULL otherwise; caller decrefs).
 */
static int http_call(const char *method, const char *path, const char *body, long read_timeout_s, json_t **answer,
                     char **err)
{
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    struct buffer resp = {0};
    char *payload = NULL, *cred = NULL, *auth = NULL, *url = NULL;
    char curl_err[CURL_ERROR_SIZE] = "";
    long status = -1;
    CURLcode rc;

    *answer = NULL;
    *err = NULL;
    if (cfg_error) {
        *err = xstrdup_printf("the plugin's configuration is unusable: %s", cfg_error);
        return -1;
    }
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK) {
        *err = xstrdup_printf("libcurl did not initialise: %s", curl_easy_strerror(curl_init_rc));
        return -1;
    }
    payload = xstrdup_printf("%s %s\n%s", method, path, body ? body : "");
    url = xstrdup_printf("%s%s", cfg_url, path);
    if (!payload || !url) {
        *err = strdup("out of memory");
        goto out;
    }
    cred = munge_credential(payload, strlen(payload), err);
    if (!cred)
        goto out;
    auth = xstrdup_printf("Authorization: Munge %s", cred);
    curl = curl_easy_init();
    if (!auth || !curl) {
        *err = strdup("out of memory");
        goto out;
    }
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* slurmstepd is multi-threaded */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");     /* qrmid is reached directly, whatever the environment says */
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (cfg_ca_file[0])
        curl_easy_setopt(curl, CURLOPT_CAINFO, cfg_ca_file);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)cfg_timeout_s);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, read_timeout_s);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_RESPONSE);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "spank_qrmid");
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    } else if (!strcmp(method, "GET")) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }

    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        if (resp.too_big || rc == CURLE_FILESIZE_EXCEEDED)
            *err = xstrdup_printf("qrmid at %s sent an answer larger than %d bytes", cfg_url, MAX_RESPONSE);
        else
            *err = xstrdup_printf("cannot reach qrmid at %s: %s", cfg_url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (resp.len) {
        json_error_t jerr;
        *answer = json_loadb(resp.data, resp.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!*answer && status >= 200 && status < 300) {
            *err = xstrdup_printf("qrmid sent an answer that is not JSON (HTTP %ld): %s", status, jerr.text);
            status = -1;
        }
    }
out:
    if (curl)
        curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(resp.data);
    free(auth);
    free(cred);
    free(url);
    free(payload);
    return (int)status;
}

/* a string member of a JSON object, or NULL */
static const char *member(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* what qrmid says about a request, fit to print: its message, or its error's detail */
static char *message_of(const json_t *answer)
{
    const char *m = member(answer, "message");
    if (!m)
        m = member(answer, "detail"); /* errors: {"detail": "..."} */
    if (!m && json_is_object(answer)) {
        json_t *d = json_object_get(answer, "detail"); /* validation errors: {"detail": [{"msg": ...}]} */
        if (json_is_array(d) && json_array_size(d) > 0)
            m = member(json_array_get(d, 0), "msg");
    }
    return printable(m);
}

/* ------------------------------------------------------------------ the job's environment */

/* is the QPU one of those --qpu names? (the name part of <qpu>_QRMI_...) */
static int one_of_the_job_qpus(const char *name, size_t len)
{
    if (!opt_qpus)
        return 0;
    for (const char *q = opt_qpus; *q;) {
        size_t ql = strcspn(q, ",");
        if (ql == len && !strncmp(q, name, len))
            return 1;
        q += ql;
        if (*q == ',')
            q++;
    }
    return 0;
}

static int upper_word(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/*
 * The keys of the QRMI contract, the only ones the plugin exports (whatever qrmid
 * sends): QRMI_<WORD>, QRMID_<WORD>, SLURM_JOB_QPU_<WORD> and <qpu>_QRMI_<WORD> for a
 * QPU of the job's --qpu, <WORD> being upper-case letters, digits and '_'.
 */
static int contract_key(const char *key)
{
    static const char *prefixes[] = {"QRMI_", "QRMID_", "SLURM_JOB_QPU_"};
    size_t len = strlen(key);
    if (len == 0 || len > MAX_KEY_LEN)
        return 0;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t pl = strlen(prefixes[i]);
        if (len > pl && !strncmp(key, prefixes[i], pl))
            return upper_word(key + pl);
    }
    const char *sep = strstr(key, "_QRMI_");
    return sep && sep > key && one_of_the_job_qpus(key, (size_t)(sep - key)) && upper_word(sep + 6);
}

/* values are data: printable, no control characters, bounded */
static int clean_value(const char *v, size_t len)
{
    if (len > MAX_VALUE_LEN || strlen(v) != len)
        return 0; /* embedded NUL */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
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

/*
 * Export qrmid's "environment" object, overwriting: qrmid's values are the contract.
 * Keys outside the contract and values that are not clean strings are refused (not
 * exported, counted in *refused); more than MAX_ENV_KEYS entries fail the whole answer.
 */
static int export_environment(spank_t sp, const json_t *answer, int *refused, char **err)
{
    json_t *env = json_is_object(answer) ? json_object_get(answer, "environment") : NULL;
    const char *key;
    json_t *value;
    int count = 0;
    *refused = 0;
    if (!json_is_object(env)) {
        *err = strdup("qrmid granted the QPUs but sent no environment");
        return -1;
    }
    if (json_object_size(env) > MAX_ENV_KEYS) {
        *err = xstrdup_printf("qrmid sent %zu variables, more than the %d a job may get", json_object_size(env),
                              MAX_ENV_KEYS);
        return -1;
    }
    json_object_foreach(env, key, value) {
        if (!contract_key(key) || !json_is_string(value) ||
            !clean_value(json_string_value(value), json_string_length(value))) {
            char *shown = printable(key);
            slurm_error("qrmid: refusing variable '%.128s' from qrmid (not a QRMI key of this job, or not a clean "
                        "string value)", shown ? shown : "?");
            free(shown);
            (*refused)++;
            continue;
        }
        spank_err_t rc = spank_setenv(sp, key, json_string_value(value), 1);
        if (rc == ESPANK_SUCCESS)
            count++;
        else
            slurm_error("qrmid: cannot set %s: %s", key, spank_strerror(rc));
    }
    return count;
}

/* ------------------------------------------------------------------ the request */

static json_t *json_groups(const char *user, gid_t gid)
{
    json_t *out = json_array();
    int n = 64;
    gid_t *gids = malloc(sizeof(gid_t) * (size_t)n);
    if (!out || !gids) {
        free(gids);
        return out;
    }
    if (getgrouplist(user, gid, gids, &n) < 0) {
        gid_t *more = realloc(gids, sizeof(gid_t) * (size_t)n);
        if (!more || getgrouplist(user, gid, more, &n) < 0) {
            free(more ? more : gids);
            return out;
        }
        gids = more;
    }
    for (int i = 0; i < n && json_array_size(out) < MAX_GROUPS; i++) {
        struct group gr, *found = NULL;
        char gbuf[4096];
        if (getgrgid_r(gids[i], &gr, gbuf, sizeof(gbuf), &found) != 0 || !found || !valid_list(gr.gr_name, 0) ||
            strlen(gr.gr_name) > 64)
            continue;
        json_array_append_new(out, json_string(gr.gr_name));
    }
    free(gids);
    return out;
}

static json_t *json_qpus(const char *list)
{
    json_t *out = json_array();
    char *copy = strdup(list), *save = NULL;
    if (!out || !copy) {
        free(copy);
        return out;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(out, json_string(tok));
    free(copy);
    return out;
}

/* the body of POST /v1/acquisitions, compact JSON (the bytes signed are the bytes sent) */
static char *acquire_body(uint32_t job_id, const char *user, uid_t uid, gid_t gid, long time_limit_s,
                          uint32_t nodes)
{
    char id[16];
    snprintf(id, sizeof(id), "%u", job_id);
    json_t *req = json_object();
    if (!req)
        return NULL;
    if (cfg_cluster[0])
        json_object_set_new(req, "cluster", json_string(cfg_cluster));
    json_object_set_new(req, "job_id", json_string(id));
    json_object_set_new(req, "user", json_string(user));
    json_object_set_new(req, "uid", json_integer((json_int_t)uid));
    json_object_set_new(req, "groups", json_groups(user, gid));
    json_object_set_new(req, "qpus", json_qpus(opt_qpus));
    if (time_limit_s > 0)
        json_object_set_new(req, "time_limit_s", json_integer((json_int_t)time_limit_s));
    if (opt_profile)
        json_object_set_new(req, "profile", json_string(opt_profile));
    /* qrmid accounts the nodes x seconds a job waits for its QPU */
    if (nodes > 0 && nodes <= 1000000)
        json_object_set_new(req, "nodes", json_integer((json_int_t)nodes));
    json_object_set_new(req, "wait_s", json_integer(POLL_WAIT_S));
    char *out = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(req);
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

/* acquisition ids are what qrmid makes them (acq-<hex>): anything else is not put in a path */
static int valid_acquisition_id(const char *id)
{
    return id && strlen(id) <= 64 && valid_list(id, 0);
}

static void acquire(spank_t sp, uint32_t job_id, long time_limit_s)
{
    uid_t uid;
    gid_t gid;
    struct passwd pw, *found = NULL;
    char pwbuf[4096];
    char *req = NULL, *err = NULL, *acq = NULL, *msg = NULL;
    json_t *answer = NULL;
    char path[256];
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
    uint32_t nodes = 0;
    if (spank_get_item(sp, S_JOB_NNODES, &nodes) != ESPANK_SUCCESS)
        nodes = 0; /* unknown: qrmid counts one */
    req = acquire_body(job_id, pw.pw_name, uid, gid, time_limit_s, nodes);
    if (!req) {
        set_failure(strdup("cannot build the request to qrmid"));
        return;
    }
    sent_request = 1;
    /* qrmid answers a repeated request for the same job with the same acquisition: retries are safe */
    for (int attempt = 0; attempt < 4; attempt++) {
        json_decref(answer);
        free(err);
        status = http_call("POST", "/v1/acquisitions?format=json", req, POLL_WAIT_S + cfg_timeout_s, &answer, &err);
        if (status > 0 && status < 500)
            break;
        if (cfg_error)
            break;
        sleep(2u << attempt);
    }
    while (status == 202) {
        free(acq);
        const char *id = member(answer, "id");
        acq = valid_acquisition_id(id) ? strdup(id) : NULL;
        msg = message_of(answer);
        if (msg)
            slurm_info("qrmid: job %u: %s", job_id, msg);
        if (!acq || time(NULL) - started > cfg_max_wait_s) {
            set_failure(xstrdup_printf("gave up waiting for QPU(s) %s after %ld s: %s", opt_qpus,
                                       (long)(time(NULL) - started), msg ? msg : "no answer"));
            free(msg);
            msg = NULL;
            goto out;
        }
        free(msg);
        msg = NULL;
        snprintf(path, sizeof(path), "/v1/acquisitions/%s?wait_s=%d&format=json", acq, POLL_WAIT_S);
        json_decref(answer);
        answer = NULL;
        free(err);
        status = http_call("GET", path, NULL, POLL_WAIT_S + cfg_timeout_s, &answer, &err);
        if (status < 0 || status >= 500) {
            sleep(2);
            status = 202; /* qrmid restarting: keep polling the same acquisition */
            if (!answer)
                answer = json_pack("{s:s}", "id", acq);
        }
    }
    msg = message_of(answer);
    if (status == 201) {
        char *bad = NULL;
        int refused = 0;
        int n = export_environment(sp, answer, &refused, &bad);
        if (n < 0) {
            set_failure(xstrdup_printf("no QPU acquired for %s: %s", opt_qpus, bad ? bad : "invalid answer"));
            free(bad);
            goto out;
        }
        long waited = (long)(time(NULL) - started);
        if (waited >= 5) {
            char *w = xstrdup_printf("QPU(s) %s granted after waiting %ld s", opt_qpus, waited);
            add_notice(w);
            free(w);
        }
        if (refused) {
            char *r = xstrdup_printf("%d variable(s) from qrmid were not exported (see slurmd's log)", refused);
            add_notice(r);
            free(r);
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
    json_decref(answer);
    free(req);
}

static void release(uint32_t job_id)
{
    char path[128], *err = NULL;
    json_t *answer = NULL;
    /* the job id names the job on its cluster (qrmid's own cluster when none is configured here) */
    snprintf(path, sizeof(path), "/v1/jobs/%u/acquisitions%s%s", job_id, cfg_cluster[0] ? "?cluster=" : "",
             cfg_cluster);
    for (int attempt = 0; attempt < 3; attempt++) {
        int status = http_call("DELETE", path, NULL, cfg_timeout_s, &answer, &err);
        if (status >= 200 && status < 300) {
            slurm_info("qrmid: job %u: QPU(s) released", job_id);
            break;
        }
        /* qrmid's reaper releases it later if this keeps failing */
        char *msg = err ? NULL : message_of(answer);
        slurm_error("qrmid: job %u: release failed (%d): %s", job_id, status, err ? err : (msg ? msg : ""));
        free(msg);
        json_decref(answer);
        free(err);
        answer = NULL;
        err = NULL;
        sleep(1);
    }
    json_decref(answer);
    free(err);
}

/*
 * A step other than the batch step joins the job's acquisition; it never starts a
 * second one after the first has ended (hold limit reached, reaped, released):
 * a job holds its QPUs once, for at most what qrmid granted. NULL: go ahead.
 */
static char *ended_acquisition(uint32_t job_id)
{
    char path[128], *err = NULL, *out = NULL;
    json_t *answer = NULL;
    snprintf(path, sizeof(path), "/v1/acquisitions?job_id=%u&limit=1%s%s", job_id, cfg_cluster[0] ? "&cluster=" : "",
             cfg_cluster);
    int status = http_call("GET", path, NULL, cfg_timeout_s, &answer, &err);
    json_t *first = json_is_array(answer) && json_array_size(answer) > 0 ? json_array_get(answer, 0) : NULL;
    if (status == 200 && first) {
        const char *state = member(first, "state");
        if (state && (!strcmp(state, "released") || !strcmp(state, "releasing"))) {
            char *id = printable(member(first, "id")), *outcome = printable(member(first, "outcome"));
            char *message = printable(member(first, "message"));
            out = xstrdup_printf("the job's QPU acquisition %s has ended (%s%s%s); a job holds its QPU(s) once — "
                                 "submit a new job for more QPU time",
                                 id ? id : "?", outcome ? outcome : state, message ? ": " : "", message ? message : "");
            free(id);
            free(outcome);
            free(message);
        }
    }
    /* qrmid unreachable: the POST that follows reports it */
    json_decref(answer);
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

/*
 * In the task, as the user: files the task creates, and its stdout/stderr files, are
 * not readable by group or others (the job's environment holds job credentials).
 * job_submit.lua already makes slurmstepd create a batch job's output with such a
 * umask (SLURM_UMASK); this also covers srun --output files and files opened before.
 */
static void keep_output_private(void)
{
    mode_t old = umask(077);
    umask(old | 077);
    for (int fd = 1; fd <= 2; fd++) {
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 077))
            continue;
        if (st.st_uid != getuid()) {
            fprintf(stderr, "qrmid: warning: the job's %s file belongs to uid %u, not to the job: others may read "
                            "it\n", fd == 1 ? "output" : "error", (unsigned)st.st_uid);
            continue;
        }
        if (fchmod(fd, st.st_mode & 0700) != 0)
            fprintf(stderr, "qrmid: warning: cannot make the job's %s file private: %s\n",
                    fd == 1 ? "output" : "error", strerror(errno));
    }
}

/*
 * sbatch/srun/salloc (local context): the job's steps create their output files with
 * the SLURM_UMASK the client sends, which the client takes from its own umask unless
 * the variable is set: both get group and others shut out, the owner's digit kept.
 * (job_submit.lua does the same for batch jobs on the controller, whatever the client
 * sends; slurmstepd reads the umask before any plugin runs in the remote context.)
 */
static void private_umask(void)
{
    char value[16];
    mode_t current = umask(077);
    mode_t mask = current;
    const char *env = getenv("SLURM_UMASK");
    if (env && *env) {
        char *end = NULL;
        unsigned long m = strtoul(env, &end, 8);
        if (end && !*end && m <= 0777)
            mask = (mode_t)m;
    }
    umask(current | 077);
    snprintf(value, sizeof(value), "%04o", (unsigned)((mask | 077) & 0777));
    if (setenv("SLURM_UMASK", value, 1) != 0)
        slurm_error("qrmid: cannot set SLURM_UMASK: %s", strerror(errno));
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
        private_umask();
        /* for the user's eyes and older job_submit.lua versions; the controller reads the option itself */
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
    keep_output_private();
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
