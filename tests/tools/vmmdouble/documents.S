/* The API documents the doubles check requests against, built in as data
 * (the Makefile assembles this from the repository's root). */
	.section .rodata
	.global vmmdouble_firecracker_yaml
	.global vmmdouble_firecracker_yaml_end
vmmdouble_firecracker_yaml:
	.incbin "tests/data/firecracker-swagger.yaml"
vmmdouble_firecracker_yaml_end:
	.byte 0
	.global vmmdouble_cloud_hypervisor_yaml
	.global vmmdouble_cloud_hypervisor_yaml_end
vmmdouble_cloud_hypervisor_yaml:
	.incbin "tests/data/cloud-hypervisor.yaml"
vmmdouble_cloud_hypervisor_yaml_end:
	.byte 0
	.section .note.GNU-stack,"",@progbits
