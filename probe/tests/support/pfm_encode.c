/*
 * A small libpfm4 driver for strobe's PMU table cross-check
 * (probe/tests/pmu_libpfm.rs and scripts/gen-pmu-tables).
 *
 * Build: cc -O1 -o pfm_encode pfm_encode.c -lpfm   (Debian: libpfm4-dev)
 *
 * The PMU is chosen with LIBPFM_FORCE_PMU=<name> (wsm, wsm_dp, spr, ...),
 * so the check needs no particular host CPU.
 *
 *   pfm_encode dump <pmu>
 *       Lists the PMU's events and unit masks with their raw codes:
 *         event<TAB>NAME<TAB>0xCODE
 *         umask<TAB>NAME<TAB>0xCODE[<TAB>dfl]
 *       Unit-mask lines belong to the event line above them. For Intel
 *       PMUs a unit mask's code holds the umask in bits 0-7 and any
 *       modifiers it implies (cmask, inv, edge, any) in the bits above,
 *       shifted down by 8 from their place in the event select register.
 *
 *   pfm_encode
 *       Reads one libpfm4 event string per line on stdin and writes one
 *       line per input line, in order:
 *         ok<TAB>TYPE<TAB>0xCONFIG<TAB>0xCONFIG1
 *         error<TAB>MESSAGE
 */
#include <perfmon/pfmlib_perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dump(const char *pmu_name)
{
	for (int p = PFM_PMU_NONE; p < PFM_PMU_MAX; p++) {
		pfm_pmu_info_t pmu;
		memset(&pmu, 0, sizeof pmu);
		pmu.size = sizeof pmu;
		if (pfm_get_pmu_info(p, &pmu) != PFM_SUCCESS || strcmp(pmu.name, pmu_name) != 0)
			continue;
		for (int e = pmu.first_event; e != -1; e = pfm_get_event_next(e)) {
			pfm_event_info_t event;
			memset(&event, 0, sizeof event);
			event.size = sizeof event;
			if (pfm_get_event_info(e, PFM_OS_NONE, &event) != PFM_SUCCESS)
				continue;
			printf("event\t%s\t%#llx\n", event.name, (unsigned long long)event.code);
			for (int a = 0; a < event.nattrs; a++) {
				pfm_event_attr_info_t attr;
				memset(&attr, 0, sizeof attr);
				attr.size = sizeof attr;
				if (pfm_get_event_attr_info(e, a, PFM_OS_NONE, &attr) != PFM_SUCCESS)
					continue;
				if (attr.type != PFM_ATTR_UMASK)
					continue;
				printf("umask\t%s\t%#llx%s\n", attr.name, (unsigned long long)attr.code,
				       attr.is_dfl ? "\tdfl" : "");
			}
		}
		return 0;
	}
	fprintf(stderr, "pfm_encode: libpfm4 has no PMU named %s\n", pmu_name);
	return 1;
}

static int encode(void)
{
	char line[1024];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		struct perf_event_attr attr;
		memset(&attr, 0, sizeof attr);
		pfm_perf_encode_arg_t arg;
		memset(&arg, 0, sizeof arg);
		arg.size = sizeof arg;
		arg.attr = &attr;
		/* User and kernel: privilege levels are not config bits under perf_event. */
		int ret = pfm_get_os_event_encoding(line, PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT, &arg);
		if (ret != PFM_SUCCESS)
			printf("error\t%s\n", pfm_strerror(ret));
		else
			printf("ok\t%u\t%#llx\t%#llx\n", attr.type, (unsigned long long)attr.config,
			       (unsigned long long)attr.config1);
		free(arg.fstr);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int ret = pfm_initialize();
	if (ret != PFM_SUCCESS) {
		fprintf(stderr, "pfm_encode: pfm_initialize: %s\n", pfm_strerror(ret));
		return 2;
	}
	if (argc == 3 && strcmp(argv[1], "dump") == 0)
		return dump(argv[2]);
	if (argc == 1)
		return encode();
	fprintf(stderr, "usage: pfm_encode [dump PMU] < events\n");
	return 2;
}
