/* --agent-weight parsing: weights by agent name, defaults, malformed specs. */
#include "controller/run.h"
#include "tests/unit/check.h"

int main(void)
{
	CHECK(run_agent_weight(NULL, "a1", 4) == 4);
	CHECK(run_agent_weight("a1=2,a2=0.5", "a1", 4) == 2);
	CHECK(run_agent_weight("a1=2,a2=0.5", "a2", 4) == 0.5);
	CHECK(run_agent_weight("a1=2,a2=0.5", "a3", 4) == 4);
	CHECK(run_agent_weight("a1=2,a2=0.5", "a", 4) == 4);   /* no prefix match */
	CHECK(run_agent_weight("a10=3", "a1", 4) == 4);
	CHECK(run_agent_weight("a1=0", "a1", 4) < 0);          /* weights must be > 0 */
	CHECK(run_agent_weight("a1=-1", "a1", 4) < 0);
	CHECK(run_agent_weight("a1=x", "zz", 4) < 0);          /* malformed anywhere */
	CHECK(run_agent_weight("=2", "zz", 4) < 0);
	CHECK(run_agent_weight("a1", "zz", 4) < 0);
	CHECK(run_agent_weight("a1=2,", "a1", 4) == 2);
	return check_done();
}
