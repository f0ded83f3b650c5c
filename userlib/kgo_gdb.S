/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * kgo-gdb.py inside every program kgo is linked into: gdb runs scripts
 * of the .debug_gdb_scripts section (entry kind 4: the script's text,
 * its first line a name) for programs under its auto-load safe-path.
 * The linker merges the copies of one string.
 */
	.pushsection .debug_gdb_scripts, "MS", @progbits, 1
	.byte	4
	.ascii	"gdb.inlined-script.kgo\n"
	.incbin	"kgo-gdb.py"
	.byte	0
	.popsection

	.section .note.GNU-stack, "", @progbits
