/*
 * An llmtrace exporter plugin in plain C: appends every batch it receives, as one line of
 * JSON ({"schema": "1.0", "records": [...]}), to the file named by its `path` option.
 *
 * Build:  cc -std=c11 -shared -fPIC -I ../abi batch_file_exporter.c -o libbatch_file_exporter.so
 * Use:    [exporters.batches]
 *         type = "plugin"
 *         path = "plugins/exporter-c/libbatch_file_exporter.so"
 *         options = { path = "traces/batches.jsonl" }
 *
 * It shows every rule a non-Rust plugin follows: a static declaration returned by
 * llmtrace_plugin_entry, input bytes that are not NUL-terminated, error buffers allocated
 * with malloc and given back through free_buf, errors as JSON or as plain text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmtrace_plugin.h"

typedef struct {
    FILE *file;
} Exporter;

/* Hands `text` to the host as an error buffer (malloc'd; the host returns it to free_buf). */
static void set_error(LlmtraceOwnedBuf *err, const char *text) {
    size_t len = strlen(text);
    uint8_t *copy = malloc(len);
    if (err == NULL || copy == NULL) {
        free(copy);
        return;
    }
    memcpy(copy, text, len);
    err->ptr = copy;
    err->len = len;
    err->cap = len;
}

/* An error as JSON. `message` must need no JSON escaping except for quotes, which are replaced. */
static void set_json_error(LlmtraceOwnedBuf *err, const char *kind, const char *fmt, ...) {
    char message[512];
    char json[700];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    for (char *c = message; *c; c++) {
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '\'';
    }
    /* No "retryable": the host decides from the kind (unavailable is retried). */
    snprintf(json, sizeof json, "{\"kind\": \"%s\", \"message\": \"%s\"}", kind, message);
    set_error(err, json);
}

/* The string value of `"path"` in the options JSON, without escapes; NULL if there is none. */
static char *path_option(LlmtraceBytes options) {
    const char *key = "\"path\"";
    size_t key_len = strlen(key);
    for (size_t i = 0; i + key_len <= options.len; i++) {
        if (memcmp(options.ptr + i, key, key_len) != 0) continue;
        size_t j = i + key_len;
        while (j < options.len && (options.ptr[j] == ' ' || options.ptr[j] == ':')) j++;
        if (j >= options.len || options.ptr[j] != '"') return NULL;
        size_t start = ++j;
        while (j < options.len && options.ptr[j] != '"' && options.ptr[j] != '\\') j++;
        if (j >= options.len || options.ptr[j] != '"') return NULL;
        char *path = malloc(j - start + 1);
        if (path == NULL) return NULL;
        memcpy(path, options.ptr + start, j - start);
        path[j - start] = '\0'; /* input bytes are not NUL-terminated: terminate our copy */
        return path;
    }
    return NULL;
}

static void free_buf(LlmtraceOwnedBuf buf) { free(buf.ptr); }

static LlmtraceStatus create(LlmtraceBytes options, void **instance, LlmtraceOwnedBuf *err) {
    char *path = path_option(options);
    if (path == NULL) {
        /* Plain text is an accepted error format too. */
        set_error(err, "option `path` (a string without escapes) is required");
        return LlmtraceStatus_BAD_INPUT;
    }
    FILE *file = fopen(path, "ab");
    if (file == NULL) {
        set_json_error(err, "unavailable", "cannot open %s: %s", path, strerror(errno));
        free(path);
        return LlmtraceStatus_ERROR;
    }
    free(path);
    Exporter *exporter = malloc(sizeof *exporter);
    if (exporter == NULL) {
        fclose(file);
        set_error(err, "out of memory");
        return LlmtraceStatus_ERROR;
    }
    exporter->file = file;
    *instance = exporter;
    return LlmtraceStatus_OK;
}

static LlmtraceStatus export_batch(void *instance, LlmtraceBytes batch, LlmtraceOwnedBuf *err) {
    Exporter *exporter = instance;
    if (fwrite(batch.ptr, 1, batch.len, exporter->file) != batch.len ||
        fputc('\n', exporter->file) == EOF) {
        set_json_error(err, "unavailable", "cannot write the batch: %s", strerror(errno));
        return LlmtraceStatus_ERROR;
    }
    return LlmtraceStatus_OK;
}

static LlmtraceStatus flush(void *instance, LlmtraceOwnedBuf *err) {
    Exporter *exporter = instance;
    if (fflush(exporter->file) != 0) {
        set_json_error(err, "unavailable", "cannot flush: %s", strerror(errno));
        return LlmtraceStatus_ERROR;
    }
    return LlmtraceStatus_OK;
}

static void destroy(void *instance) {
    Exporter *exporter = instance;
    fclose(exporter->file);
    free(exporter);
}

#define STATIC_STR(s) {(const uint8_t *)(s), sizeof(s) - 1}

static const LlmtraceExporterDeclV1 DECLARATION = {
    .header = {
        .magic = LLMTRACE_ABI_MAGIC,
        .abi_major = LLMTRACE_ABI_MAJOR,
        .abi_minor = LLMTRACE_ABI_MINOR,
        .kind = LlmtraceKind_EXPORTER,
        .decl_size = sizeof(LlmtraceExporterDeclV1),
        .name = STATIC_STR("c-batch-file-exporter"),
        .plugin_version = STATIC_STR("0.1.0"),
        .api_version = {NULL, 0}, /* informational; not claimed by a C plugin */
        .flags = LlmtraceFlags_NONE,
    },
    .free_buf = free_buf,
    .create = create,
    .export_ = export_batch,
    .flush = flush,
    .destroy = destroy,
};

/* The one exported symbol. */
const LlmtracePluginHeader *llmtrace_plugin_entry(void) { return &DECLARATION.header; }
