/* Prints the host's TSC frequency in kHz (vmm_host_tsc_khz, src/vmm/tsc.c),
 * for tests that start a TCG guest with the VMM test doubles and must pass
 * tsc_early_khz= in the boot arguments as Cove's drivers do under TCG. */
#include <stdio.h>

#include "vmm/driver.h"

int main(void)
{
	unsigned khz = vmm_host_tsc_khz();
	if (!khz)
		return 1;
	printf("%u\n", khz);
	return 0;
}
