/* JSON paths: walking objects and arrays, malformed paths, and comparing
 * values of every JSON type with text. */
#include "common/jpath.h"
#include "tests/unit/check.h"

int main(void)
{
	json_error_t err;
	json_t *root = json_loads("{\"token\":\"abc\",\"data\":{\"user\":{\"id\":42}},"
	                          "\"items\":[{\"id\":\"x1\"},{\"id\":\"x2\",\"ok\":true}],"
	                          "\"pi\":3.5,\"none\":null,\"no\":false}",
	                          0, &err);
	CHECK(root != NULL);
	CHECK(jpath_get(root, "$") == root);
	CHECK_EQ_STR(json_string_value(jpath_get(root, "$.token")), "abc");
	CHECK_EQ_INT(json_integer_value(jpath_get(root, "$.data.user.id")), 42);
	CHECK_EQ_STR(json_string_value(jpath_get(root, "$.items[1].id")), "x2");
	CHECK(jpath_get(root, "$.items[2]") == NULL);      /* past the end */
	CHECK(jpath_get(root, "$.token.x") == NULL);       /* into a string */
	CHECK(jpath_get(root, "$.items.id") == NULL);      /* key of an array */
	CHECK(jpath_get(root, "$.data[0]") == NULL);       /* index of an object */
	CHECK(jpath_get(root, "$.missing") == NULL);
	CHECK(jpath_get(NULL, "$.token") == NULL);

	CHECK(jpath_valid("$"));
	CHECK(jpath_valid("$.a.b[0].c"));
	CHECK(!jpath_valid("a.b"));
	CHECK(!jpath_valid("$."));
	CHECK(!jpath_valid("$.a..b"));
	CHECK(!jpath_valid("$[x]"));
	CHECK(!jpath_valid("$[-1]"));
	CHECK(!jpath_valid("$[1"));
	CHECK(!jpath_valid("$a"));
	CHECK(!jpath_valid(NULL));

	CHECK(jpath_equals(jpath_get(root, "$.token"), "abc"));
	CHECK(!jpath_equals(jpath_get(root, "$.token"), "abcd"));
	CHECK(jpath_equals(jpath_get(root, "$.data.user.id"), "42"));
	CHECK(!jpath_equals(jpath_get(root, "$.data.user.id"), "42.0"));
	CHECK(jpath_equals(jpath_get(root, "$.pi"), "3.5"));
	CHECK(!jpath_equals(jpath_get(root, "$.pi"), "3.5x"));
	CHECK(jpath_equals(jpath_get(root, "$.items[1].ok"), "true"));
	CHECK(jpath_equals(jpath_get(root, "$.no"), "false"));
	CHECK(jpath_equals(jpath_get(root, "$.none"), "null"));
	CHECK(!jpath_equals(jpath_get(root, "$.items"), "[]"));  /* containers never equal text */
	CHECK(!jpath_equals(NULL, "x"));
	json_decref(root);
	return check_done();
}
