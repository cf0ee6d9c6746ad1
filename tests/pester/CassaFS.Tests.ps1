#Requires -Version 7.4
# Pester 5: the CassaFS provider and cmdlets from PowerShell, against the real Cassandra and ZooKeeper the test host
# passes in CASSAFS_TEST_CASSANDRA / CASSAFS_TEST_ZOOKEEPER ("host:port"). Run by `./build.ps1 Test` wherever pwsh and
# Pester 5 exist. Without those variables the server tests are skipped (and say so); without FUSE (Linux, /dev/fuse,
# fusermount3, root) the mount tests are skipped.

BeforeDiscovery {
    $script:NoServers = -not ($env:CASSAFS_TEST_CASSANDRA -and $env:CASSAFS_TEST_ZOOKEEPER)
    $script:NoFuse = $NoServers -or -not $IsLinux -or -not (Test-Path /dev/fuse) -or
        -not (Get-Command fusermount3 -ErrorAction Ignore) -or ((& id -u) -ne '0')
    if ($NoServers) {
        Write-Warning 'CassaFS server tests SKIPPED: CASSAFS_TEST_CASSANDRA and CASSAFS_TEST_ZOOKEEPER are not set (./build.ps1 Test starts servers and sets them).'
    }
    elseif ($NoFuse) {
        Write-Warning 'Start-/Stop-CassaMount tests SKIPPED: they need Linux with /dev/fuse, fusermount3 (apt-get install fuse3) and root.'
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Package.ps1')
    $script:Module = Get-CassaFSPackage
    Import-Module (Join-Path $Module 'CassaFS.psd1') -Force -ErrorAction Stop

    if ($env:CASSAFS_TEST_CASSANDRA -and $env:CASSAFS_TEST_ZOOKEEPER) {
        $script:Servers = Get-CassaTestServers
        $script:Keyspace = "pester_$([guid]::NewGuid().ToString('N').Substring(0, 10))"
        $format = @{} + $Servers
        $format.Remove('ZooKeeper')
        Initialize-CassaFileSystem @format -Keyspace $Keyspace -Confirm:$false -ErrorAction Stop
        New-PSDrive -Name cassa -PSProvider CassaFS -Root / -Keyspace $Keyspace @Servers -LockTimeoutSeconds 5 -ErrorAction Stop | Out-Null
    }
}

AfterAll {
    if (Get-PSDrive cassa -ErrorAction Ignore) { Remove-PSDrive cassa }
}

Describe 'New-PSDrive -PSProvider CassaFS' -Skip:$NoServers {
    It 'opens the keyspace as a drive with the given lock mode' {
        $drive = Get-PSDrive cassa
        $drive.Provider.Name | Should -Be 'CassaFS'
        $drive.Keyspace | Should -Be $Keyspace
        $drive.LockMode | Should -Be 'zookeeper'
        Test-Path cassa:/ -PathType Container | Should -BeTrue
    }

    It 'takes lwt locks and another consistency, and closes on Remove-PSDrive' {
        $lwt = @{} + $Servers
        $lwt.Consistency = 'Quorum'
        New-PSDrive -Name cassalwt -PSProvider CassaFS -Root / -Keyspace $Keyspace @lwt -LockMode lwt -ErrorAction Stop | Out-Null
        (Get-PSDrive cassalwt).LockMode | Should -Be 'lwt'
        Test-Path cassalwt:/ | Should -BeTrue
        Remove-PSDrive cassalwt
        Get-PSDrive cassalwt -ErrorAction Ignore | Should -BeNullOrEmpty
    }

    It 'roots a drive at a subdirectory, where .. stops' {
        $dir = New-TestDirectory
        Set-Content "$dir/inside.txt" 'x'
        New-PSDrive -Name cassasub -PSProvider CassaFS -Root ($dir -replace '^cassa:', '') -Keyspace $Keyspace @Servers -ErrorAction Stop | Out-Null
        try {
            (Get-PSDrive cassasub).FileSystemRoot | Should -Be ($dir -replace '^cassa:', '')
            (Get-ChildItem cassasub:/).Name | Should -Be 'inside.txt'
            (Get-ChildItem 'cassasub:\..\..').Name | Should -Be 'inside.txt'
            (Get-Item cassasub:/inside.txt).PSPath | Should -Be 'CassaFS\CassaFS::cassasub:/inside.txt'
            Set-Content cassasub:/made-here.txt 'sub'
            Get-Content "$dir/made-here.txt" | Should -Be 'sub'
            Move-Item cassasub:/made-here.txt "$dir/moved.txt"
            Get-Content cassasub:/moved.txt | Should -Be 'sub'
        }
        finally {
            Remove-PSDrive cassasub
        }
    }

    It 'names an unreachable Cassandra and what to check' {
        { New-PSDrive -Name cassabad -PSProvider CassaFS -Root / -Keyspace $Keyspace -ContactPoints 127.0.0.1 -Port 1 -ConnectTimeoutSeconds 2 -ErrorAction Stop } |
            Should -Throw -ExpectedMessage '*127.0.0.1 (port 1)*-ContactPoints*'
    }

    It 'names an unreachable ZooKeeper' {
        $bad = @{} + $Servers
        $bad.ZooKeeper = '127.0.0.1:1'
        { New-PSDrive -Name cassabad -PSProvider CassaFS -Root / -Keyspace $Keyspace @bad -ConnectTimeoutSeconds 2 -ErrorAction Stop } |
            Should -Throw -ExpectedMessage '*ZooKeeper is unreachable at 127.0.0.1:1*'
    }

    It 'moves with Set-Location and Push-Location using either slash' {
        $dir = New-TestDirectory
        New-Item "$dir/sub dir" -ItemType Directory | Out-Null
        Push-Location 'cassa:\'
        try {
            Set-Location ($dir -replace '/', '\')
            Set-Location 'sub dir'
            (Get-Location).Path | Should -BeLike '*sub dir'
            Set-Location ..
            (Get-ChildItem -Name) | Should -Be 'sub dir'
        }
        finally {
            Pop-Location
        }
    }
}

Describe 'Get-ChildItem' -Skip:$NoServers {
    BeforeAll {
        $script:Tree = New-TestDirectory
        Set-Content "$Tree/a.txt" 'aaa'
        Set-Content "$Tree/b.log" 'b'
        Set-Content "$Tree/.hidden" 'h'
        New-Item "$Tree/sub/deeper" -ItemType Directory -Force | Out-Null
        Set-Content "$Tree/sub/c.txt" 'c'
        Set-Content "$Tree/sub/deeper/d.txt" 'd'
    }

    It 'lists children as items with stat data' {
        $items = Get-ChildItem $Tree
        $items.Name | Should -Be @('a.txt', 'b.log', 'sub')
        $a = $items | Where-Object Name -EQ 'a.txt'
        $a.Length | Should -Be 4
        $a.Mode | Should -Be '-rw-r--r--'
        $a.LinkCount | Should -Be 1
        $a.Inode | Should -Not -Be ([guid]::Empty)
        $a.Owner | Should -Not -BeNullOrEmpty
        $a.PSIsContainer | Should -BeFalse
    }

    It 'recurses, and -Depth limits it' {
        (Get-ChildItem $Tree -Recurse -Name | ForEach-Object { $_ -replace '\\', '/' } | Sort-Object) |
            Should -Be @('a.txt', 'b.log', 'sub', 'sub/c.txt', 'sub/deeper', 'sub/deeper/d.txt')
        (Get-ChildItem $Tree -Depth 1).Name | Should -Be @('a.txt', 'b.log', 'sub', 'c.txt', 'deeper')
        (Get-ChildItem $Tree -Depth 0 -Name) | Should -Be @('a.txt', 'b.log', 'sub')
    }

    It 'recurses into every directory for -Name with -Filter, -Include and -Exclude' {
        (Get-ChildItem $Tree -Recurse -Name -Filter '*.txt' | ForEach-Object { $_ -replace '\\', '/' } | Sort-Object) |
            Should -Be @('a.txt', 'sub/c.txt', 'sub/deeper/d.txt')
        (Get-ChildItem $Tree -Recurse -Include '*.txt').Name | Sort-Object | Should -Be @('a.txt', 'c.txt', 'd.txt')
        (Get-ChildItem $Tree -Recurse -Exclude '*.txt').Name | Sort-Object | Should -Be @('b.log', 'deeper', 'sub')
    }

    It 'filters provider-side and applies -Include and -Exclude' {
        (Get-ChildItem $Tree -Recurse -Filter '*.txt').Name | Should -Be @('a.txt', 'c.txt', 'd.txt')
        (Get-ChildItem "$Tree/*" -Include '*.log').Name | Should -Be 'b.log'
        (Get-ChildItem $Tree -Exclude '*.log').Name | Should -Be @('a.txt', 'sub')
    }

    It 'shows dot files only with -Force' {
        (Get-ChildItem $Tree).Name | Should -Not -Contain '.hidden'
        (Get-ChildItem $Tree -Force).Name | Should -Contain '.hidden'
    }

    It 'keeps only directories or only files' {
        (Get-ChildItem $Tree -Directory).Name | Should -Be 'sub'
        (Get-ChildItem $Tree -File).Name | Should -Be @('a.txt', 'b.log')
    }

    It 'shows the lock column' {
        $handle = Lock-CassaItem "$Tree/a.txt" -Mode Read -Purpose 'pester reader'
        try {
            $a = Get-ChildItem $Tree | Where-Object Name -EQ 'a.txt'
            $a.LockMode | Should -Be 'Read'
            $a.LockHolder | Should -BeLike '*pester reader*'
            $a.Lock | Should -BeLike 'R *pester reader*'
        }
        finally {
            $handle | Unlock-CassaItem
        }
    }

    It 'completes child names with Tab' {
        $line = "Get-ChildItem $Tree/su"
        $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $completion.CompletionMatches.CompletionText | Should -BeLike '*sub*'
    }
}

Describe 'Item cmdlets' -Skip:$NoServers {
    BeforeEach {
        $script:Dir = New-TestDirectory
    }

    It 'New-Item makes files with content, directories, symbolic links and hard links' {
        (New-Item "$Dir/f.txt" -ItemType File -Value 'hello').Length | Should -Be 5
        (New-Item "$Dir/d" -ItemType Directory).PSIsContainer | Should -BeTrue
        (New-Item "$Dir/s" -ItemType SymbolicLink -Value 'f.txt').LinkTarget | Should -Be 'f.txt'
        (New-Item "$Dir/h" -ItemType HardLink -Value "$Dir/f.txt").LinkCount | Should -Be 2
        Get-Content "$Dir/s" | Should -Be 'hello'
    }

    It 'New-Item on an existing name fails as on the FileSystem provider (NewItemIOError) unless -Force' {
        New-Item "$Dir/f" -ItemType File -Value 'one' | Out-Null
        New-Item "$Dir/f" -ItemType File -Value 'two' -ErrorAction SilentlyContinue -ErrorVariable err | Out-Null
        $err[0].FullyQualifiedErrorId | Should -BeLike 'NewItemIOError,*'
        $err[0].CategoryInfo.Category | Should -Be 'WriteError'
        New-Item "$Dir/f" -ItemType File -Value 'three' -Force | Out-Null
        Get-Content "$Dir/f" | Should -Be 'three'
    }

    It 'Remove-Item -Recurse removes a directory with children and honours -WhatIf' {
        New-Item "$Dir/d/e" -ItemType Directory -Force | Out-Null
        Remove-Item "$Dir/d" -Recurse -WhatIf
        Test-Path "$Dir/d/e" | Should -BeTrue
        Remove-Item "$Dir/d" -Recurse
        Test-Path "$Dir/d" | Should -BeFalse
    }

    It 'Rename-Item, Move-Item and Copy-Item -Recurse work within the drive' {
        Set-Content "$Dir/a.txt" 'data'
        Rename-Item "$Dir/a.txt" 'b.txt'
        New-Item "$Dir/into" -ItemType Directory | Out-Null
        Move-Item "$Dir/b.txt" "$Dir/into"
        Get-Content "$Dir/into/b.txt" | Should -Be 'data'
        Copy-Item "$Dir/into" "$Dir/copy" -Recurse
        Get-Content "$Dir/copy/b.txt" | Should -Be 'data'
        Test-Path "$Dir/into/b.txt" | Should -BeTrue
    }

    It 'Test-Path tells containers from leaves' {
        Set-Content "$Dir/leaf" ''
        Test-Path $Dir -PathType Container | Should -BeTrue
        Test-Path "$Dir/leaf" -PathType Leaf | Should -BeTrue
        Test-Path "$Dir/leaf" -PathType Container | Should -BeFalse
        Test-Path "$Dir/missing" | Should -BeFalse
    }

    It 'Get-Item of a missing path is ObjectNotFound' {
        Get-Item "$Dir/missing" -ErrorAction SilentlyContinue -ErrorVariable err | Out-Null
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'wildcards and -LiteralPath treat brackets differently' {
        Set-Content -LiteralPath "$Dir/file[1].txt" 'literal'
        Set-Content "$Dir/file1.txt" 'wild'
        Get-Content -LiteralPath "$Dir/file[1].txt" | Should -Be 'literal'
        Get-Content "$Dir/file[1].txt" | Should -Be 'wild'
        (Get-Item "$Dir/file*").Count | Should -Be 2
    }

    It 'takes piped items by their PSPath, which names the drive' {
        Set-Content "$Dir/a.txt" 'piped'
        $item = Get-Item "$Dir/a.txt"
        $item.PSPath | Should -Be "CassaFS\CassaFS::$Dir/a.txt"
        $item | Get-Content | Should -Be 'piped'
        (Get-ChildItem $Dir | Where-Object Name -EQ 'a.txt' | Split-Path -Leaf) | Should -Be 'a.txt'
        New-Item "$Dir/d" -ItemType Directory | Out-Null
        Get-ChildItem $Dir | Remove-Item -Recurse
        Get-ChildItem $Dir -Force | Should -BeNullOrEmpty
    }

    It 'handles names with spaces and unicode' {
        Set-Content "$Dir/my file ✓ ü.txt" 'u'
        Get-Content "$Dir/my file ✓ ü.txt" | Should -Be 'u'
        (Get-ChildItem $Dir).Name | Should -Contain 'my file ✓ ü.txt'
    }

    It 'Get-ItemProperty and Set-ItemProperty read and change mode, owner, group and times' {
        Set-Content "$Dir/p" 'x'
        $when = [datetime]::new(2020, 2, 3, 4, 5, 6, [DateTimeKind]::Utc)
        Set-ItemProperty "$Dir/p" -Name Mode -Value '0600'
        Set-ItemProperty "$Dir/p" -Name Owner -Value 1234
        Set-ItemProperty "$Dir/p" -Name Group -Value 4321
        Set-ItemProperty "$Dir/p" -Name LastWriteTime -Value $when
        $p = Get-ItemProperty "$Dir/p"
        $p.Mode | Should -Be '-rw-------'
        $p.Uid | Should -Be 1234
        $p.Gid | Should -Be 4321
        $p.LastWriteTime.ToUniversalTime() | Should -Be $when
        (Get-ItemProperty "$Dir/p" -Name Length).Length | Should -Be 2
    }
}

Describe 'Content cmdlets' -Skip:$NoServers {
    BeforeEach {
        $script:Dir = New-TestDirectory
    }

    It 'Set-Content and Get-Content round-trip lines' {
        Set-Content "$Dir/f" 'one', 'two', 'three'
        Get-Content "$Dir/f" | Should -Be @('one', 'two', 'three')
        Get-Content "$Dir/f" -Raw | Should -Be "one`ntwo`nthree`n"
        Get-Content "$Dir/f" -TotalCount 2 | Should -Be @('one', 'two')
        (Get-Content "$Dir/f" -ReadCount 2 | Measure-Object).Count | Should -Be 2
    }

    It 'Set-Content and Add-Content create new files on the drive, never on the local disk' {
        $name = "new-$([guid]::NewGuid().ToString('N')).txt"
        Set-Content "$Dir/$name" 'fresh'
        Add-Content "$Dir/added-$name" 'added'
        Get-Content "$Dir/$name" | Should -Be 'fresh'
        Get-Content "$Dir/added-$name" | Should -Be 'added'
        Test-Path -LiteralPath (($Dir -replace '^cassa:', '') + "/$name") | Should -BeFalse
    }

    It 'Add-Content appends and Clear-Content empties' {
        Set-Content "$Dir/f" 'first'
        Add-Content "$Dir/f" 'second'
        Get-Content "$Dir/f" | Should -Be @('first', 'second')
        Clear-Content "$Dir/f"
        (Get-Item "$Dir/f").Length | Should -Be 0
    }

    It 'writes and reads bytes, encodings and no newline' {
        Set-Content "$Dir/bin" -Value ([byte[]](0, 255, 7)) -AsByteStream
        Get-Content "$Dir/bin" -AsByteStream | Should -Be @(0, 255, 7)
        Set-Content "$Dir/u16" 'é' -Encoding unicode -NoNewline
        Get-Content "$Dir/u16" -AsByteStream | Should -Be @(0xFF, 0xFE, 0xE9, 0x00)
        Get-Content "$Dir/u16" -Encoding unicode | Should -Be 'é'
    }

    It 'Set-Content waits for another session''s lock and fails with ResourceBusy naming the holder' {
        Set-Content "$Dir/locked" 'original'
        $job = Start-LockHolder -Servers $Servers -Keyspace $Keyspace -FileSystemPath (($Dir -replace '^cassa:', '') + '/locked') -Purpose 'pester other session'
        try {
            Set-Content "$Dir/locked" 'mine' -LockTimeoutSeconds 1 -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $err[0].ToString() | Should -BeLike '*pester other session*'
            Get-Content "$Dir/locked" | Should -Be 'original'
        }
        finally {
            $job | Stop-Job -PassThru | Remove-Job
        }
        Set-Content "$Dir/locked" 'mine' -LockTimeoutSeconds 30
        Get-Content "$Dir/locked" | Should -Be 'mine'
    }
}

Describe 'Lock cmdlets' -Skip:$NoServers {
    BeforeEach {
        $script:Dir = New-TestDirectory
        Set-Content "$Dir/f" 'x'
    }

    It 'Lock-CassaItem returns a handle, Get-CassaLock shows it, Unlock-CassaItem takes it from the pipeline' {
        $handle = Lock-CassaItem "$Dir/f" -Mode Write -Purpose 'pester writer'
        $handle.State | Should -Be 'Held'
        $handle.FencingToken | Should -BeGreaterThan 0
        $lock = Get-CassaLock "$Dir/f"
        $lock.Mode | Should -Be 'Write'
        $lock.HeldBy | Should -BeLike '*pester writer*'
        (Get-CassaLock -Drive cassa).Key | Should -Contain $handle.Key
        $handle | Unlock-CassaItem
        (Get-CassaLock "$Dir/f").Holders | Should -BeNullOrEmpty
    }

    It 'takes read locks for piped items and releases them' {
        Set-Content "$Dir/g" 'y'
        $handles = Get-ChildItem $Dir | Lock-CassaItem -Mode Read
        $handles.Count | Should -Be 2
        $handles | Unlock-CassaItem
        (Get-ChildItem $Dir).LockMode | Where-Object { $_ } | Should -BeNullOrEmpty
    }

    It 'times out against another session naming the holder, and Remove-CassaLock breaks it' {
        $job = Start-LockHolder -Servers $Servers -Keyspace $Keyspace -FileSystemPath (($Dir -replace '^cassa:', '') + '/f') -Purpose 'stale job'
        try {
            Lock-CassaItem "$Dir/f" -Timeout 1 -ErrorAction SilentlyContinue -ErrorVariable err | Out-Null
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $err[0].ToString() | Should -BeLike '*stale job*'
            Remove-CassaLock "$Dir/f" -WhatIf
            (Get-CassaLock "$Dir/f").HeldBy | Should -BeLike '*stale job*'
            Remove-CassaLock "$Dir/f" -Reason 'pester' -Force
            $handle = Lock-CassaItem "$Dir/f" -Timeout 5
            $handle.State | Should -Be 'Held'
            $handle | Unlock-CassaItem
        }
        finally {
            $job | Stop-Job -PassThru | Remove-Job
        }
    }
}

Describe 'Filesystem cmdlets' -Skip:$NoServers {
    It 'Get-CassaFileSystem shows statfs and settings' {
        $fs = Get-CassaFileSystem cassa
        $fs.Keyspace | Should -Be $Keyspace
        $fs.BlockSize | Should -BeGreaterThan 0
        $fs.Settings['schema_version'] | Should -Not -BeNullOrEmpty
    }

    It 'Test-CassaFileSystem returns an fsck report' {
        $report = Test-CassaFileSystem cassa
        $report.Inodes | Should -BeGreaterThan 0
    }

    It 'Initialize-CassaFileSystem refuses an existing filesystem without -Force and does nothing with -WhatIf' {
        $format = @{} + $Servers
        $format.Remove('ZooKeeper')
        Initialize-CassaFileSystem @format -Keyspace $Keyspace -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable err
        $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        Initialize-CassaFileSystem @format -Keyspace $Keyspace -Force -WhatIf
        Test-Path cassa:/ | Should -BeTrue
    }

    It 'Remove-CassaFileSystem removes a filesystem, and refuses one a drive uses or one that is not there' {
        $format = @{} + $Servers
        $format.Remove('ZooKeeper')
        $doomed = "pester_rm_$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        Initialize-CassaFileSystem @format -Keyspace $doomed -Confirm:$false -ErrorAction Stop
        New-PSDrive -Name doomed -PSProvider CassaFS -Root / -Keyspace $doomed @Servers -ErrorAction Stop | Out-Null
        Set-Content doomed:/f 'data'
        Remove-CassaFileSystem @format -Keyspace $doomed -Force -ErrorAction SilentlyContinue -ErrorVariable inUse
        $inUse[0].ToString() | Should -BeLike '*in use by drive doomed:*Remove-PSDrive*'
        Remove-PSDrive doomed
        Remove-CassaFileSystem @format -Keyspace $doomed -WhatIf
        Initialize-CassaFileSystem @format -Keyspace $doomed -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable still
        $still[0].CategoryInfo.Category | Should -Be 'ResourceExists' -Because '-WhatIf removed nothing'
        Remove-CassaFileSystem @format -Keyspace $doomed -Force
        Remove-CassaFileSystem @format -Keyspace $doomed -Force -ErrorAction SilentlyContinue -ErrorVariable gone
        $gone[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        { New-PSDrive -Name doomed -PSProvider CassaFS -Root / -Keyspace $doomed @Servers -ErrorAction Stop } | Should -Throw
    }
}

Describe 'Start-CassaMount and Stop-CassaMount' -Skip:$NoFuse {
    BeforeAll {
        $script:MountPoint = Join-Path ([IO.Path]::GetTempPath()) "cassafs-pester-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        New-Item $MountPoint -ItemType Directory | Out-Null
    }

    AfterAll {
        if (Get-CassaMount -MountPoint $MountPoint | Where-Object Mounted) { Stop-CassaMount $MountPoint -Lazy }
        Remove-Item $MountPoint -Force -ErrorAction Ignore
    }

    It 'mounts the drive''s filesystem, shows it in Get-CassaMount, and unmounts' {
        $mount = Start-CassaMount $MountPoint -Drive cassa
        $mount.MountPoint | Should -Be $MountPoint
        $mount.Keyspace | Should -Be $Keyspace
        $dir = New-TestDirectory
        Set-Content "$dir/seen.txt" 'through FUSE'
        Get-Content (Join-Path $MountPoint ($dir -replace '^cassa:/', '') 'seen.txt') | Should -Be 'through FUSE'
        (Get-CassaMount -MountPoint $MountPoint).Status | Should -Be 'mounted'
        Get-CassaMount -MountPoint $MountPoint | Stop-CassaMount
        Get-CassaMount -MountPoint $MountPoint | Where-Object Mounted | Should -BeNullOrEmpty
    }

    It 'Get-CassaLock names the file that a flock on the mount holds' {
        Start-CassaMount $MountPoint -Drive cassa | Out-Null
        try {
            $dir = New-TestDirectory
            New-Item "$dir/sub" -ItemType Directory | Out-Null
            Set-Content "$dir/sub/held.txt" 'x'
            $local = Join-Path $MountPoint ($dir -replace '^cassa:/', '') 'sub' 'held.txt'
            # One process takes the flock and keeps the descriptor, so stopping it releases the lock and the mount.
            $start = [Diagnostics.ProcessStartInfo]::new('bash')
            foreach ($a in '-c', 'exec 9>>"$1" && flock 9 && exec sleep 60', 'holder', $local) { $start.ArgumentList.Add($a) }
            $holder = [Diagnostics.Process]::Start($start)
            try {
                $deadline = [DateTime]::UtcNow.AddSeconds(20)
                while (-not ($lock = Get-CassaLock -Drive cassa | Where-Object HeldBy -like '*LOCK_EX*') -and [DateTime]::UtcNow -lt $deadline) {
                    Start-Sleep -Milliseconds 200
                }
                $lock | Should -Not -BeNullOrEmpty
                $lock.Path | Should -Be "$dir/sub/held.txt"
                (Get-CassaLock "$dir/sub/held.txt").Mode | Should -Be 'Write'
            }
            finally {
                $holder.Kill()
                $holder.WaitForExit()
            }
        }
        finally {
            Stop-CassaMount $MountPoint
        }
    }

    It 'Start-CassaMount -WhatIf mounts nothing' {
        Start-CassaMount $MountPoint -Drive cassa -WhatIf
        Get-CassaMount -MountPoint $MountPoint | Where-Object Mounted | Should -BeNullOrEmpty
    }
}
