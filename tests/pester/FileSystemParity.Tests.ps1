#Requires -Version 7.4
# Pester 5: the cassa: drive held to PowerShell's own FileSystem provider. Each Describe names a defect found by
# running the module as a user would; where the FileSystem provider's behaviour is the reference, the same command is
# run on a local temporary folder in the same test and the two are compared.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Package.ps1')
    Import-Module (Join-Path (Get-CassaFSPackage) 'CassaFS.psd1') -Force -ErrorAction Stop
    $script:Drive = Initialize-CassaTestDrive 'parity'
    $script:DriveServers = $Drive.Servers
    $script:Local = Join-Path ([IO.Path]::GetTempPath()) "cassafs-parity-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    New-Item $Local -ItemType Directory | Out-Null


    # A runspace of this process with the module and a drive of its own, for tests that stop a pipeline (Ctrl+C).
    function New-CassaRunspace {
        $ps = [powershell]::Create()
        $null = $ps.AddScript({
                param($module, $servers, $keyspace)
                Import-Module (Join-Path $module 'CassaFS.psd1') -ErrorAction Stop
                New-PSDrive -Name cassa -PSProvider CassaFS -Root / -Keyspace $keyspace @servers -ErrorAction Stop | Out-Null
            }).AddArgument((Get-CassaFSPackage)).AddArgument($Drive.Servers).AddArgument($Drive.Keyspace)
        $ps.Invoke() | Out-Null
        if ($ps.HadErrors) { throw "runspace setup failed: $($ps.Streams.Error | Out-String)" }
        $ps.Commands.Clear()
        $ps
    }
}

AfterAll {
    if (Get-PSDrive cassa -ErrorAction Ignore) { Remove-PSDrive cassa }
    if ($Local) { Remove-Item $Local -Recurse -Force -ErrorAction Ignore }
}

Describe 'An item used as a path names the cassa: item, never the local disk' {
    It 'Remove-Item, Set-Content and Test-Path of a Get-Item result act on the drive' {
        # The same absolute path exists on the local disk and on the drive.
        $same = "$Local/victim.txt"
        Set-Content -LiteralPath $same 'local data'
        New-Item "cassa:$Local" -ItemType Directory -Force | Out-Null
        Set-Content "cassa:$same" 'cassa data'
        $item = Get-Item "cassa:$same"
        "$item" | Should -Be "cassa:$same"
        $item.FullName | Should -Be "cassa:$same"
        $item.FileSystemPath | Should -Be $same
        Test-Path $item | Should -BeTrue
        Set-Content $item 'changed'
        Get-Content $item | Should -Be 'changed'
        Remove-Item $item
        Test-Path "cassa:$same" | Should -BeFalse
        Get-Content -LiteralPath $same | Should -Be 'local data'
    }

    It 'a listing''s FullName, DirectoryName and PSParentPath lead back to the drive' {
        $dir = New-TestDirectory
        Set-Content "$dir/a.txt" 'a'
        $a = Get-ChildItem $dir
        $a.DirectoryName | Should -Be $dir
        Get-Content $a.FullName | Should -Be 'a'
        (Get-Item $a.DirectoryName).PSIsContainer | Should -BeTrue
    }
}

Describe 'Paths with .. that reach the drive''s root' {
    BeforeAll {
        $script:Dir = New-TestDirectory
        Set-Content "$Dir/q3.csv" 'x'
    }

    It 'Get-ChildItem, Test-Path and Resolve-Path resolve .. like the FileSystem provider' {
        $names = (Get-ChildItem "$Dir/..").Name
        $names | Should -Contain ($Dir -replace '^cassa:/', '')
        Test-Path "$Dir/.." -ErrorVariable err | Should -BeTrue
        $err | Should -BeNullOrEmpty
        Test-Path 'cassa:/..' | Should -BeTrue
        (Resolve-Path "$Dir/../$($Dir -replace '^cassa:/', '')/q3.csv" -ErrorVariable err).Path | Should -Be "$Dir/q3.csv"
        $err | Should -BeNullOrEmpty
        (Get-Item "$Dir/../$($Dir -replace '^cassa:/', '')").FullName | Should -Be $Dir
    }

    It 'stops at the root of a drive rooted at a subdirectory' {
        New-PSDrive -Name cassasub -PSProvider CassaFS -Root ($Dir -replace '^cassa:', '') -Keyspace $Drive.Keyspace @DriveServers -ErrorAction Stop | Out-Null
        try {
            (Get-ChildItem 'cassasub:\..\..' -ErrorVariable err).Name | Should -Be 'q3.csv'
            $err | Should -BeNullOrEmpty
            (Get-ChildItem 'cassasub:/../..' -ErrorVariable err).Name | Should -Be 'q3.csv'
            $err | Should -BeNullOrEmpty
        }
        finally { Remove-PSDrive cassasub }
    }
}

Describe 'Get-Content and Set-Content parameters as on the FileSystem provider' {
    BeforeEach {
        $script:Dir = New-TestDirectory
        Set-Content "$Dir/lines" 'a', 'b', 'c', 'd'
        Set-Content -LiteralPath "$Local/lines" 'a', 'b', 'c', 'd'
    }

    It '-Raw before or after the path gives one string' {
        (Get-Content -Raw "$Dir/lines").GetType().Name | Should -Be 'String'
        (Get-Content "$Dir/lines" -Raw).GetType().Name | Should -Be 'String'
        Get-Content -Raw "$Dir/lines" | Should -Be (Get-Content -Raw "$Local/lines")
    }

    It '-Delimiter splits like the local disk; -Tail, which PowerShell keeps to FileSystem, says so and has a stand-in' {
        Get-Content "$Dir/lines" -Delimiter 'b' | Should -Be (Get-Content "$Local/lines" -Delimiter 'b')
        # Get-Content itself refuses -Tail for every provider but FileSystem (the README's table says so).
        $e = Get-FirstError { Get-Content "$Dir/lines" -Tail 2 }
        $e.Message | Should -BeLike '*Tail*FileSystem*'
        Get-Content "$Dir/lines" | Select-Object -Last 2 | Should -Be (Get-Content "$Local/lines" -Tail 2)
    }

    It '-AsByteStream with -Encoding warns that the encoding is not used' {
        Set-Content "$Dir/bytes" -Value ([byte[]](1, 2)) -AsByteStream -Encoding utf8 -WarningVariable warned -WarningAction SilentlyContinue
        $warned | Should -BeLike '*Encoding not used*'
        Get-Content "$Dir/bytes" -AsByteStream -Encoding utf8 -WarningVariable readWarned -WarningAction SilentlyContinue | Should -Be @(1, 2)
        $readWarned | Should -BeLike '*Encoding not used*'
    }

    It '-Wait follows what another drive appends, until stopped' {
        $ps = New-CassaRunspace
        try {
            $null = $ps.AddScript("Get-Content '$Dir/lines' -Wait")
            $output = [System.Management.Automation.PSDataCollection[psobject]]::new()
            $async = $ps.BeginInvoke([System.Management.Automation.PSDataCollection[psobject]]::new(), $output)
            $deadline = (Get-Date).AddSeconds(20)
            while ($output.Count -lt 4 -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 100 }
            Add-Content "$Dir/lines" 'appended'
            while ($output.Count -lt 5 -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 100 }
            # A line appended in two writes, with more than a poll between them, is still one line (as tail -f gives it).
            Add-Content "$Dir/lines" 'hal' -NoNewline
            Start-Sleep -Milliseconds 1000
            Add-Content "$Dir/lines" 'f'
            while ($output.Count -lt 6 -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 100 }
            Start-Sleep -Milliseconds 600
            # By index: enumerating an open PSDataCollection blocks until the pipeline ends.
            @(for ($i = 0; $i -lt $output.Count; $i++) { $output[$i] }) | Should -Be @('a', 'b', 'c', 'd', 'appended', 'half')
            $async.IsCompleted | Should -BeFalse
            # Stopping is Ctrl+C; a pipeline that ignored it would hang here, so the wait is bounded.
            $stop = $ps.BeginStop($null, $null)
            $stop.AsyncWaitHandle.WaitOne([timespan]::FromSeconds(5)) | Should -BeTrue -Because 'the stopped command returns within 5 s'
        }
        finally { $ps.Dispose() }
    }
}

Describe 'Rename-Item, symbolic links and error ids as on the FileSystem provider' {
    BeforeEach {
        $script:Dir = New-TestDirectory
        Set-Content "$Dir/a.txt" 'a'
        Set-Content "$Dir/b.txt" 'b'
        New-Item "$Dir/sub" -ItemType Directory | Out-Null
        $script:Ref = Join-Path $Local "ref-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
        New-Item $Ref -ItemType Directory | Out-Null
        Set-Content "$Ref/a.txt" 'a'
        Set-Content "$Ref/b.txt" 'b'
        New-Item "$Ref/sub" -ItemType Directory | Out-Null
    }

    It 'Rename-Item takes a path in the same directory and refuses another directory with the same error' {
        (Rename-Item "$Dir/a.txt" "$Dir/c.txt" -PassThru).Name | Should -Be 'c.txt'
        Get-Content "$Dir/c.txt" | Should -Be 'a'
        $cassa = Get-FirstError { Rename-Item "$Dir/c.txt" "$Dir/sub/d.txt" }
        $local = Get-FirstError { Rename-Item "$Ref/a.txt" "$Ref/sub/d.txt" }
        $cassa.Id | Should -Be $local.Id
        $cassa.Category | Should -Be $local.Category
    }

    It 'a symbolic link to a cassa: path stores the filesystem path; a relative target stays relative' {
        $abs = New-Item "$Dir/abs" -ItemType SymbolicLink -Target "$Dir/a.txt"
        $abs.Target | Should -Be "$($Dir -replace '^cassa:', '')/a.txt"
        Get-Content "$Dir/abs" | Should -Be 'a'
        $rel = New-Item "$Dir/rel" -ItemType SymbolicLink -Value 'b.txt'
        $rel.Target | Should -Be 'b.txt'
        Get-Content "$Dir/rel" | Should -Be 'b'
    }

    It 'the same mistakes give the same FullyQualifiedErrorId and category' {
        $cases = @(
            @{ Name = 'move onto an existing item'; Cassa = { Move-Item "$Dir/a.txt" "$Dir/b.txt" }; Local = { Move-Item "$Ref/a.txt" "$Ref/b.txt" } }
            @{ Name = 'move into its own subfolder'; Cassa = { Move-Item "$Dir/sub" "$Dir/sub/x" }; Local = { Move-Item "$Ref/sub" "$Ref/sub/x" } }
            @{ Name = 'rename onto an existing name'; Cassa = { Rename-Item "$Dir/a.txt" 'b.txt' }; Local = { Rename-Item "$Ref/a.txt" 'b.txt' } }
            @{ Name = 'an existing symlink'; Cassa = { New-Item "$Dir/l" -ItemType SymbolicLink -Target "$Dir/a.txt"; New-Item "$Dir/l" -ItemType SymbolicLink -Target "$Dir/a.txt" }; Local = { New-Item "$Ref/l" -ItemType SymbolicLink -Target "$Ref/a.txt"; New-Item "$Ref/l" -ItemType SymbolicLink -Target "$Ref/a.txt" } }
            @{ Name = 'a hard link to itself'; Cassa = { New-Item "$Dir/a.txt" -ItemType HardLink -Target "$Dir/a.txt" }; Local = { New-Item "$Ref/a.txt" -ItemType HardLink -Target "$Ref/a.txt" } }
            @{ Name = 'an existing directory'; Cassa = { New-Item "$Dir/sub" -ItemType Directory }; Local = { New-Item "$Ref/sub" -ItemType Directory } }
            @{ Name = 'a missing item'; Cassa = { Get-Item "$Dir/missing" }; Local = { Get-Item "$Ref/missing" } }
            @{ Name = 'content of a directory'; Cassa = { Get-Content "$Dir/sub" }; Local = { Get-Content "$Ref/sub" } }
        )
        foreach ($case in $cases) {
            $local = Get-FirstError $case.Local
            $cassa = Get-FirstError $case.Cassa
            $local | Should -Not -BeNullOrEmpty -Because "the FileSystem provider refuses $($case.Name)"
            $cassa.Id | Should -Be $local.Id -Because $case.Name
            $cassa.Category | Should -Be $local.Category -Because $case.Name
        }
    }
}

Describe 'Item properties and hidden files as on the FileSystem provider' {
    BeforeAll {
        $script:Dir = New-TestDirectory
        Set-Content "$Dir/f.txt" 'f'
        Set-Content "$Dir/.hidden" 'h'
        New-Item "$Dir/sub" -ItemType Directory | Out-Null
        New-Item "$Dir/link" -ItemType SymbolicLink -Value 'f.txt' | Out-Null
        New-Item "$Dir/dirlink" -ItemType SymbolicLink -Value 'sub' | Out-Null
        Set-Content "$Dir/sub/inner.txt" 'i'
    }

    It 'items carry LinkType, Target, Attributes, UnixMode and UnixFileMode' {
        $f = Get-Item "$Dir/f.txt"
        $f.LinkType | Should -BeNullOrEmpty
        $f.Target | Should -BeNullOrEmpty
        $f.Attributes | Should -Be ([IO.FileAttributes]::Normal)
        $f.UnixMode | Should -Be '-rw-r--r--'
        $f.UnixFileMode | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite, GroupRead, OtherRead')
        $l = Get-Item "$Dir/link"
        $l.LinkType | Should -Be 'SymbolicLink'
        $l.Target | Should -Be 'f.txt'
        $l.Attributes | Should -Be ([IO.FileAttributes]::ReparsePoint)
        (Get-Item "$Dir/sub").Attributes | Should -Be ([IO.FileAttributes]::Directory)
        (Get-Item "$Dir/.hidden" -Force).Attributes | Should -Be ([IO.FileAttributes]::Hidden)
    }

    It 'setting Attributes is accepted as on Unix: Hidden changes nothing, ReadOnly clears the write bits' {
        $f = Get-Item "$Dir/f.txt"
        { $f.Attributes = 'Hidden' } | Should -Not -Throw
        (Get-Item "$Dir/f.txt").Attributes | Should -Be ([IO.FileAttributes]::Normal)
        Set-ItemProperty "$Dir/f.txt" -Name IsReadOnly -Value $true
        (Get-Item "$Dir/f.txt").IsReadOnly | Should -BeTrue
        (Get-Item "$Dir/f.txt").UnixMode | Should -Be '-r--r--r--'
        Set-ItemProperty "$Dir/f.txt" -Name Attributes -Value Normal
        (Get-Item "$Dir/f.txt").UnixMode | Should -Be '-rw-r--r--'
    }

    It 'Get-Item of a dot-file needs -Force, with the FileSystem provider''s error' {
        Set-Content -LiteralPath "$Local/.hidden" 'h'
        $local = Get-FirstError { Get-Item "$Local/.hidden" }
        $cassa = Get-FirstError { Get-Item "$Dir/.hidden" }
        $cassa.Id | Should -Be $local.Id
        $cassa.Category | Should -Be $local.Category
        (Get-Item "$Dir/.hidden" -Force).Name | Should -Be '.hidden'
    }

    It 'Get-ChildItem -Hidden, -Attributes and -FollowSymlink' {
        (Get-ChildItem $Dir -Hidden).Name | Should -Be '.hidden'
        # A link to a directory is a directory and a reparse point, as .NET reports it on Unix.
        (Get-ChildItem $Dir -Attributes Directory).Name | Should -Be @('dirlink', 'sub')
        (Get-ChildItem $Dir -Attributes ReparsePoint).Name | Should -Be @('dirlink', 'link')
        (Get-ChildItem $Dir -Attributes !Directory).Name | Should -Be @('f.txt', 'link')
        (Get-Item "$Dir/dirlink").Attributes | Should -Be ([IO.FileAttributes]'Directory, ReparsePoint')
        (Get-ChildItem $Dir -Recurse -FollowSymlink | ForEach-Object { $_.FullName }) | Should -Contain "$Dir/dirlink/inner.txt"
        (Get-ChildItem $Dir -Recurse | ForEach-Object { $_.FullName }) | Should -Not -Contain "$Dir/dirlink/inner.txt"
    }

    It 'Test-Path -OlderThan and -NewerThan' {
        Test-Path "$Dir/f.txt" -OlderThan (Get-Date).AddDays(1) | Should -BeTrue
        Test-Path "$Dir/f.txt" -NewerThan (Get-Date).AddDays(1) | Should -BeFalse
        Test-Path "$Dir/f.txt" -NewerThan (Get-Date).AddDays(-1) | Should -BeTrue
    }
}

Describe 'Locks as a user reads them' {
    BeforeEach {
        $script:Dir = New-TestDirectory
        Set-Content "$Dir/f" 'original'
    }

    It 'Get-Content does not wait for another session''s Write lock unless asked' {
        $job = Start-LockHolder -Servers $DriveServers -Keyspace $Drive.Keyspace -FileSystemPath (($Dir -replace '^cassa:', '') + '/f') -Purpose 'month end'
        try {
            $took = Measure-Command { Get-Content "$Dir/f" | Should -Be 'original' }
            $took.TotalSeconds | Should -BeLessThan 3
            Get-Content "$Dir/f" -LockTimeoutSeconds 1 -ErrorAction SilentlyContinue -ErrorVariable err | Out-Null
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $line = (Get-ChildItem $Dir | Where-Object Name -EQ 'f').Lock
            $line | Should -Be "W $([Environment]::UserName)@$([Environment]::MachineName) (month end)"
            $lock = Get-CassaLock -Drive cassa | Where-Object Path -EQ "$Dir/f"
            $lock | Should -Not -BeNullOrEmpty
            $lock.HeldBy | Should -BeLike "$([Environment]::UserName)@*month end*"
        }
        finally { $job | Stop-Job -PassThru | Remove-Job }
    }

    It 'a session that ends without removing its drive leaves no lock for others to wait out' {
        # The other session makes names in the directory (so it keeps the directory's shared lock for its next ones)
        # and ends without Remove-PSDrive. Its ZooKeeper session would live on for its timeout (10 s), and with it
        # the kept lock, past this drive's 5 s lock timeout for the mkdir below.
        $module = Join-Path (Get-CassaFSPackage) 'CassaFS.psd1'
        $servers = ($DriveServers.GetEnumerator() | ForEach-Object { "-$($_.Key) '$($_.Value)'" }) -join ' '
        $script = "Import-Module '$module' -ErrorAction Stop; " +
            "New-PSDrive -Name cassa -PSProvider CassaFS -Root / -Keyspace '$($Drive.Keyspace)' $servers -ErrorAction Stop | Out-Null; " +
            "1..3 | ForEach-Object { Set-Content `"$Dir/made`$_`" `$_ -ErrorAction Stop }; 'made'"
        # This pwsh again: its own executable, or dotnet with pwsh.dll when it runs as a dotnet tool (as the test command runs it).
        $start = [Diagnostics.ProcessStartInfo]::new((Get-Process -Id $PID).Path)
        if ((Split-Path $start.FileName -Leaf) -like 'dotnet*') { $start.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $script) { $start.ArgumentList.Add($a) }
        $start.RedirectStandardOutput = $true
        $child = [Diagnostics.Process]::Start($start)
        $out = $child.StandardOutput.ReadToEnd()
        $child.WaitForExit(60000) | Should -BeTrue
        $out.Trim() | Should -Be 'made'
        New-Item "$Dir/sub" -ItemType Directory -ErrorAction Stop | Out-Null
        (Get-ChildItem $Dir).Name | Sort-Object | Should -Be @('f', 'made1', 'made2', 'made3', 'sub')
    }

    It 'Remove-CassaLock -Confirm:$false breaks without asking' {
        $job = Start-LockHolder -Servers $DriveServers -Keyspace $Drive.Keyspace -FileSystemPath (($Dir -replace '^cassa:', '') + '/f') -Purpose 'stale'
        try {
            $broken = Remove-CassaLock "$Dir/f" -Confirm:$false -ErrorAction Stop
            @($broken).Count | Should -Be 1
            (Get-CassaLock "$Dir/f").Holders | Should -BeNullOrEmpty
        }
        finally { $job | Stop-Job -PassThru | Remove-Job }
    }

    It 'stopping the pipeline (Ctrl+C) ends a long lock wait at once' {
        $job = Start-LockHolder -Servers $DriveServers -Keyspace $Drive.Keyspace -FileSystemPath (($Dir -replace '^cassa:', '') + '/f') -Purpose 'long'
        $ps = New-CassaRunspace
        try {
            $null = $ps.AddScript("Set-Content '$Dir/f' 'mine' -LockTimeoutSeconds 120")
            $async = $ps.BeginInvoke()
            Start-Sleep -Seconds 2
            $async.IsCompleted | Should -BeFalse
            # Stopping is Ctrl+C; a pipeline that ignored it would hang here, so the wait is bounded.
            $stop = $ps.BeginStop($null, $null)
            $stop.AsyncWaitHandle.WaitOne([timespan]::FromSeconds(5)) | Should -BeTrue -Because 'the stopped command returns within 5 s'
            Get-Content "$Dir/f" | Should -Be 'original'
        }
        finally {
            $ps.Dispose()
            $job | Stop-Job -PassThru | Remove-Job
        }
    }

    It 'two drives in bakery lock mode exclude each other' {
        New-PSDrive -Name bake1 -PSProvider CassaFS -Root / -Keyspace $Drive.Keyspace @DriveServers -LockMode bakery -ErrorAction Stop | Out-Null
        New-PSDrive -Name bake2 -PSProvider CassaFS -Root / -Keyspace $Drive.Keyspace @DriveServers -LockMode bakery -ErrorAction Stop | Out-Null
        try {
            (Get-PSDrive bake1).BakeryParticipant | Should -Not -Be (Get-PSDrive bake2).BakeryParticipant
            $path = ($Dir -replace '^cassa:', '') + '/f'
            $h = Lock-CassaItem "bake1:$path" -Mode Write -Purpose 'bakery one'
            try {
                Lock-CassaItem "bake2:$path" -Mode Write -Timeout 1 -ErrorAction SilentlyContinue -ErrorVariable err | Out-Null
                $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            }
            finally { $h | Unlock-CassaItem }
        }
        finally {
            Remove-PSDrive bake1, bake2
        }
    }
}

Describe 'Navigation, drives and help' {
    It 'Set-Location ~ goes to the drive''s home' {
        Push-Location cassa:/
        try {
            $dir = New-TestDirectory
            Set-Location $dir
            Set-Location ~
            (Get-Location).Path | Should -Be 'cassa:/'
            (Get-Location).Provider.Name | Should -Be 'CassaFS'
        }
        finally { Pop-Location }
    }

    It 'Get-PSDrive shows Used and Free from statfs' {
        $d = Get-PSDrive cassa
        $d.Used | Should -BeGreaterOrEqual 0
        $d.Free | Should -BeGreaterThan 0
        ($d | Format-Table | Out-String) | Should -Match 'cassa'
    }

    It 'Get-Help knows the provider, its dynamic parameters, and every cmdlet has examples' {
        (Get-Help -Category Provider CassaFS).Name | Should -Be 'CassaFS'
        (Get-Help Set-Content -Parameter LockTimeoutSeconds -Path cassa:/).Name | Should -Be 'LockTimeoutSeconds'
        foreach ($cmd in Get-Command -Module CassaFS) {
            @((Get-Help $cmd.Name).Examples.Example).Count | Should -BeGreaterThan 0 -Because "$($cmd.Name) needs examples"
        }
    }

    It 'Initialize-CassaFileSystem tells the user about -Force, not the CLI flag' {
        $format = @{} + $Drive.Servers
        $format.Remove('ZooKeeper')
        $e = Get-FirstError { Initialize-CassaFileSystem @format -Keyspace $Drive.Keyspace -Confirm:$false }
        $e.Message | Should -BeLike '*-Force*'
        $e.Message | Should -Not -BeLike '*--force*'
    }

    It 'destructive verbs honour -WhatIf' {
        $dir = New-TestDirectory
        Set-Content "$dir/f" 'kept'
        Set-Content "$dir/f" 'gone' -WhatIf
        Add-Content "$dir/f" 'gone' -WhatIf
        Clear-Content "$dir/f" -WhatIf
        Set-ItemProperty "$dir/f" -Name Mode -Value '0600' -WhatIf
        Rename-Item "$dir/f" 'g' -WhatIf
        Move-Item "$dir/f" "$dir/g" -WhatIf
        Copy-Item "$dir/f" "$dir/g" -WhatIf
        Remove-Item "$dir/f" -WhatIf
        Get-Content "$dir/f" | Should -Be 'kept'
        (Get-Item "$dir/f").UnixMode | Should -Be '-rw-r--r--'
        (Get-ChildItem $dir).Name | Should -Be 'f'
    }
}

Describe 'Copy-CassaItem between the local disk and a cassa: drive' {
    It 'copies a tree up and back down with modes and times' {
        $src = Join-Path $Local "tree-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
        New-Item "$src/deep" -ItemType Directory -Force | Out-Null
        Set-Content "$src/a.txt" 'alpha'
        [IO.File]::WriteAllBytes("$src/deep/blob.bin", [byte[]](0..255 + 0..255))
        & chmod 0750 "$src/deep/blob.bin"
        $when = [datetime]::new(2021, 5, 6, 7, 8, 9, [DateTimeKind]::Utc)
        (Get-Item "$src/deep/blob.bin").LastWriteTimeUtc = $when
        $dir = New-TestDirectory
        Copy-CassaItem -Path $src -Destination "$dir/up" -Recurse
        Get-Content "$dir/up/a.txt" | Should -Be 'alpha'
        $blob = Get-Item "$dir/up/deep/blob.bin"
        $blob.Length | Should -Be 512
        $blob.UnixMode | Should -Be '-rwxr-x---'
        $blob.LastWriteTime.ToUniversalTime() | Should -Be $when
        $down = Join-Path $Local "down-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
        Copy-CassaItem -Path "$dir/up" -Destination $down -Recurse
        (Get-FileHash "$down/deep/blob.bin").Hash | Should -Be (Get-FileHash "$src/deep/blob.bin").Hash
        (Get-Item "$down/deep/blob.bin").UnixMode | Should -Be '-rwxr-x---'
        (Get-Item "$down/deep/blob.bin").LastWriteTimeUtc | Should -Be $when
        Get-Content "$down/a.txt" | Should -Be 'alpha'
    }

    It 'copies into an existing folder, keeps links as links, refuses special files, and -WhatIf copies nothing' {
        $src = Join-Path $Local "links-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
        New-Item $src -ItemType Directory | Out-Null
        Set-Content "$src/real.txt" 'real'
        New-Item "$src/link" -ItemType SymbolicLink -Target 'real.txt' | Out-Null
        $dir = New-TestDirectory
        Copy-CassaItem -Path $src -Destination $dir -Recurse -WhatIf
        Get-ChildItem $dir | Should -BeNullOrEmpty
        $copied = Copy-CassaItem -Path $src -Destination $dir -Recurse -PassThru
        $copied.PSPath | Should -BeLike "*::cassa:/t-*/$(Split-Path $src -Leaf)"
        $link = Get-Item "$dir/$(Split-Path $src -Leaf)/link"
        $link.LinkType | Should -Be 'SymbolicLink'
        $link.Target | Should -Be 'real.txt'
        Get-Content "$dir/$(Split-Path $src -Leaf)/link" | Should -Be 'real'
        & mkfifo "$src/pipe"
        $e = Get-FirstError { Copy-CassaItem -Path "$src/pipe" -Destination "$dir/pipe" }
        $e.Message | Should -BeLike '*special file*'
        Test-Path "$dir/pipe" | Should -BeFalse
        $e = Get-FirstError { Copy-CassaItem -Path "$dir/no-such" -Destination $Local }
        $e.Category | Should -Be 'ObjectNotFound'
    }

    It 'refuses to overwrite without -Force and waits for the file''s lock' {
        $dir = New-TestDirectory
        Set-Content "$dir/f" 'old'
        Set-Content -LiteralPath "$Local/new-f" 'new'
        $e = Get-FirstError { Copy-CassaItem -Path "$Local/new-f" -Destination "$dir/f" }
        $e.Category | Should -Be 'ResourceExists'
        $job = Start-LockHolder -Servers $DriveServers -Keyspace $Drive.Keyspace -FileSystemPath (($dir -replace '^cassa:', '') + '/f') -Purpose 'copy guard'
        try {
            $e = Get-FirstError { Copy-CassaItem -Path "$Local/new-f" -Destination "$dir/f" -Force -LockTimeoutSeconds 1 }
            $e.Category | Should -Be 'ResourceBusy'
            Get-Content "$dir/f" | Should -Be 'old'
        }
        finally { $job | Stop-Job -PassThru | Remove-Job }
        Copy-CassaItem -Path "$Local/new-f" -Destination "$dir/f" -Force -LockTimeoutSeconds 30 # the stopped holder's session lasts until it expires
        Get-Content "$dir/f" | Should -Be 'new'
    }
}
