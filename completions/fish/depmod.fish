complete -c depmod -s b -l basedir -d 'Use an image of a module tree: read BASEDIR/MODULEDIR/VERSION' -r -F
complete -c depmod -s m -l moduledir -d 'Directory of the modules under BASEDIR and OUTDIR (default lib/modules)' -r -F
complete -c depmod -s o -l outdir -d 'Write the indexes to OUTDIR/MODULEDIR/VERSION instead' -r -F
complete -c depmod -s C -l config -d 'Read PATH instead of the depmod.d directories (repeatable)' -r -F
complete -c depmod -s E -l symvers -d 'Read vmlinux\'s symbols and their versions from Module.symvers' -r -F
complete -c depmod -s F -l filesyms -d 'Read vmlinux\'s symbols from System.map' -r -F
complete -c depmod -s P -l symbol-prefix -d 'Strip this character from the front of symbol names' -r
complete -c depmod -s a -l all -d 'Probe all modules (the default)'
complete -c depmod -s A -l quick -d 'Do nothing unless a module is newer than modules.dep'
complete -c depmod -s e -l errsyms -d 'Report unknown symbols and symbol version mismatches (needs -E or -F)'
complete -c depmod -s n -l show -l dry-run -d 'Write the text files to standard output, change nothing'
complete -c depmod -s w -l warn -d 'Warn about values stored twice under one index key'
complete -c depmod -s v -l verbose -d 'More messages (repeatable)'
complete -c depmod -s V -l version -d 'Show version'
complete -c depmod -s h -l help -d 'Print help'
