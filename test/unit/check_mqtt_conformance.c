/* check_mqtt_conformance — keeps test/mqtt_conformance.md true: every
 * statement it marks covered names tests that exist (a case "name" or a
 * START_TEST(name) in the test file named), no statement is listed twice,
 * every row has a known coverage, and the counts in each section's summary
 * are those of its rows.  Run from the repository root. */
#include "mqtt_test.h"

#include <stdio.h>

#define DOC "test/mqtt_conformance.md"

static const char *const s_kinds[] = { "covered", "broker, issue 4", "client side", "transport", "n/a" };

typedef struct {
    int rows, covered;
    int stated_covered, stated_rows;
    char ids[400][32];
} s_section_t;

/* The whole file (getdelim to a NUL it will not meet), or NULL. */
static char *s_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t cap = 0;
    if (!f)
        return NULL;
    if (getdelim(&text, &cap, '\0', f) < 0) {
        free(text);
        text = strdup("");
    }
    fclose(f);
    return text;
}

/* `file:name` names a case or a test function of test/unit/file. */
static void s_check_ref(const char *ref, size_t len, const char *row)
{
    char file[128], name[128], path[300], quoted[140], fn[160];
    const char *colon = memchr(ref, ':', len);
    ck_assert_msg(colon && (size_t)(colon - ref) < sizeof file && len < sizeof name, "bad reference in %s", row);
    snprintf(file, sizeof file, "%.*s", (int)(colon - ref), ref);
    snprintf(name, sizeof name, "%.*s", (int)(ref + len - colon - 1), colon + 1);
    snprintf(path, sizeof path, "test/unit/%s", file);
    char *src = s_slurp(path);
    ck_assert_msg(src, "%s: no file %s", row, path);
    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    snprintf(fn, sizeof fn, "START_TEST(%s)", name);
    ck_assert_msg(strstr(src, quoted) || strstr(src, fn), "%s: %s has no case or test %s", row, file, name);
    free(src);
}

/* Every `...` in the cell is a reference. */
static int s_check_refs(const char *cell, const char *row)
{
    int n = 0;
    for (const char *p = strchr(cell, '`'); p; p = strchr(p, '`')) {
        const char *end = strchr(p + 1, '`');
        ck_assert_msg(end, "%s: unbalanced `", row);
        s_check_ref(p + 1, (size_t)(end - p - 1), row);
        n++;
        p = end + 1;
    }
    return n;
}

/* "| [MQTT-x] | requirement | coverage | tests |" */
static void s_statement(s_section_t *sec, char *line)
{
    char *cell[5] = { 0 };
    int n = 0;
    for (char *p = line; n < 5 && (p = strchr(p, '|')); p++)
        cell[n++] = p + 1;
    ck_assert_msg(n == 5, "row with %d cells: %s", n, line);
    for (int i = 0; i < 4; i++)
        *strchr(cell[i], '|') = 0;
    char id[32], kind[32];
    ck_assert(sscanf(cell[0], " %31s", id) == 1);
    snprintf(kind, sizeof kind, "%s", cell[2] + 1);
    kind[strcspn(kind, "|")] = 0;
    while (strlen(kind) && kind[strlen(kind) - 1] == ' ')
        kind[strlen(kind) - 1] = 0;
    bool known = false;
    for (size_t k = 0; k < sizeof s_kinds / sizeof s_kinds[0]; k++)
        known |= !strcmp(kind, s_kinds[k]);
    ck_assert_msg(known, "%s: coverage '%s'", id, kind);
    for (int i = 0; i < sec->rows; i++)
        ck_assert_msg(strcmp(sec->ids[i], id), "%s listed twice", id);
    ck_assert_int_lt(sec->rows, 400);
    snprintf(sec->ids[sec->rows++], sizeof sec->ids[0], "%s", id);
    int refs = s_check_refs(cell[3], id);
    if (!strcmp(kind, "covered")) {
        ck_assert_msg(refs > 0, "%s is covered by no test", id);
        sec->covered++;
    }
}

/* Walk the document; sections[0] is 3.1.1, [1] 5.0, [2] the unnumbered rules. */
static void s_read(s_section_t sections[3])
{
    char *doc = s_slurp(DOC);
    ck_assert_msg(doc, "cannot read %s (run from the repository root)", DOC);
    int cur = -1;
    for (char *line = strtok(doc, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "## ", 3))
            cur = strstr(line, "3.1.1") ? 0 : strstr(line, "without") ? 2 : strstr(line, "5.0") ? 1 : -1;
        else if (cur >= 0 && cur < 2 && !strncmp(line, "**", 2))
            ck_assert(sscanf(line, "**%d of %d covered**", &sections[cur].stated_covered,
                             &sections[cur].stated_rows) == 2);
        else if (cur >= 0 && cur < 2 && !strncmp(line, "| [MQTT-", 8))
            s_statement(&sections[cur], line);
        else if (cur == 2 && line[0] == '|' && strchr(line, '`'))
            sections[2].covered += s_check_refs(line, line) > 0;
    }
    free(doc);
}

START_TEST(test_conformance_table)
{
    static s_section_t sec[3];
    memset(sec, 0, sizeof sec);
    s_read(sec);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(sec[i].rows > 100, "section %d has %d statements", i, sec[i].rows);
        ck_assert_int_eq(sec[i].stated_rows, sec[i].rows);
        ck_assert_int_eq(sec[i].stated_covered, sec[i].covered);
    }
    ck_assert_int_gt(sec[2].covered, 5);
    printf("conformance: 3.1.1 %d of %d covered, 5.0 %d of %d covered, %d unnumbered 5.0 rules\n",
           sec[0].covered, sec[0].rows, sec[1].covered, sec[1].rows, sec[2].covered);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mqtt_conformance");
    TCase *tc = tcase_create("conformance");
    tcase_add_test(tc, test_conformance_table);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}
