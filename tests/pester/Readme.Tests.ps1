#Requires -Version 7.4
# Pester 5: the README's "PowerShell session end to end", replayed line by line as a user would type it. Only the
# servers' addresses, the keyspace and the mount point are swapped for the test's own (the servers listen on free
# ports; a fixed keyspace or mount point would collide between runs). The "second PowerShell session" the README
# describes is a job: its own process and ZooKeeper session.

BeforeDiscovery {
    $script:NoFuse = -not $IsLinux -or -not (Test-Path /dev/fuse) -or
        -not (Get-Command fusermount3 -ErrorAction Ignore) -or ((& id -u) -ne '0')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Package.ps1')
    $null = Get-CassaFSPackage
    $script:Root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $readme = Get-Content (Join-Path $Root 'README.md') -Raw
    $session = [regex]::Match($readme, '(?s)## PowerShell session end to end(.*?)\n## ').Groups[1].Value
    # The session's ```powershell blocks, each as its lines.
    $script:Blocks = @([regex]::Matches($session, '(?s)```powershell\n(.*?)```') | ForEach-Object { , @($_.Groups[1].Value -split '\n' | Where-Object { $_.Trim() }) })
    $servers = Get-CassaTestServers
    $script:Servers = $servers
    $script:Keyspace = "readme_$([guid]::NewGuid().ToString('N').Substring(0, 10))"
    $script:MountPoint = Join-Path ([IO.Path]::GetTempPath()) "cassafs-readme-$([guid]::NewGuid().ToString('N').Substring(0, 8))"

    # The line as typed, pointed at the test's servers, keyspace and mount point.
    function ConvertTo-TestLine([string] $Line) {
        $Line -replace '-ContactPoints 127\.0\.0\.1', "-ContactPoints $($servers.ContactPoints) -Port $($servers.Port)" `
            -replace '127\.0\.0\.1:2181', $servers.ZooKeeper `
            -replace '-Keyspace myfs', "-Keyspace $Keyspace" `
            -replace '/mnt/myfs', $MountPoint
    }

    # The user's prompt: a runspace of its own, where each line runs at the global scope (a drive or variable it makes
    # outlives the line), in the repository's root as the README assumes.
    $script:Prompt = [runspacefactory]::CreateRunspace()
    $Prompt.Open()
    $Prompt.SessionStateProxy.Path.SetLocation($Root) | Out-Null

    # Runs one line at the prompt; returns what it printed and the errors it wrote.
    function Invoke-ReadmeLine([string] $Line) {
        $ps = [powershell]::Create()
        $ps.Runspace = $Prompt
        try {
            # Formatted there, with the module's views, as the prompt shows it.
            $null = $ps.AddScript((ConvertTo-TestLine $Line), $false).AddCommand('Out-String').AddParameter('Width', 250)
            $output = -join $ps.Invoke()
            [pscustomobject]@{ Line = $Line; Output = $output; Errors = @($ps.Streams.Error) }
        }
        catch {
            [pscustomobject]@{ Line = $Line; Output = ''; Errors = @($_) }
        }
        finally { $ps.Dispose() }
    }

}

AfterAll {
    if ($Prompt) {
        $null = Invoke-ReadmeLine "if (Get-CassaMount -MountPoint /mnt/myfs -ErrorAction Ignore | Where-Object Mounted) { Stop-CassaMount /mnt/myfs -Lazy }"
        $Prompt.Dispose()
    }
    if ($MountPoint) { Remove-Item $MountPoint -Force -ErrorAction Ignore }
}

Describe 'The README''s PowerShell session' {
    It 'has the three blocks this replay walks through' {
        $Blocks.Count | Should -Be 3
    }

    It 'makes a filesystem, a drive, a folder and a file, and lists it' {
        foreach ($line in $Blocks[0]) {
            $r = Invoke-ReadmeLine $line
            $r.Errors | Should -BeNullOrEmpty -Because "README line: $line"
            if ($line -like 'dir cassa:/reports*') {
                foreach ($column in 'Mode', 'Links', 'Owner', 'Group', 'Length', 'LastWriteTime', 'Lock', 'Name') { $r.Output | Should -Match "\b$column\b" }
                $r.Output | Should -Match 'q3\.csv'
            }
        }
        (Invoke-ReadmeLine 'Get-Content cassa:/reports/q3.csv').Output -split '\r?\n' -ne '' | Should -Be @('region,total', 'north,42')
    }

    It 'a write waits for the second session''s lock, names its holder and purpose, and the lock shows in dir' {
        $job = Start-LockHolder -Servers $Servers -Keyspace $Keyspace -FileSystemPath '/reports/q3.csv' -Purpose 'month end'
        try {
            foreach ($line in $Blocks[1] | Where-Object { $_ -notmatch '^\s*#' }) {
                $r = Invoke-ReadmeLine $line
                if ($line -like 'Set-Content*') {
                    # The README shows the error on the next line: ResourceBusy, naming the holder's purpose.
                    $r.Errors.Count | Should -Be 1 -Because "README line: $line"
                    [string]$r.Errors[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
                    $r.Errors[0].ToString() | Should -BeLike '*locked by*(month end)*'
                }
                else {
                    $r.Errors | Should -BeNullOrEmpty -Because "README line: $line"
                    $r.Output | Should -BeLike '*month end*' -Because "README line: $line"
                }
            }
            (Invoke-ReadmeLine 'Get-Content cassa:/reports/q3.csv').Output -split '\r?\n' -ne '' | Should -Be @('region,total', 'north,42')
        }
        finally { $job | Stop-Job -PassThru | Remove-Job }
        # "A holder that died is cleared with" (the job is gone; its ZooKeeper session would otherwise last until it expires):
        $r = Invoke-ReadmeLine ([regex]::Match((Get-Content (Join-Path $Root 'README.md') -Raw), '`(Remove-CassaLock [^`]+)`').Groups[1].Value)
        $r.Errors | Should -BeNullOrEmpty
        (Invoke-ReadmeLine "Set-Content cassa:/reports/q3.csv 'late' -LockTimeoutSeconds 3").Errors | Should -BeNullOrEmpty
        (Invoke-ReadmeLine 'Get-Content cassa:/reports/q3.csv').Output.Trim() | Should -Be 'late'
    }

    It 'mounts it for ordinary tools, where flock takes the same lock, and unmounts' -Skip:$NoFuse {
        New-Item $MountPoint -ItemType Directory -Force | Out-Null
        foreach ($line in $Blocks[2]) {
            $r = Invoke-ReadmeLine $line
            $r.Errors | Should -BeNullOrEmpty -Because "README line: $line"
            if ($line -like 'Get-Content*flock*') { $r.Output -split '\r?\n' -ne '' | Should -Be @('late', 'excluded with Lock-CassaItem') }
        }
        (Invoke-ReadmeLine 'Get-PSDrive cassa -ErrorAction Ignore').Output.Trim() | Should -BeNullOrEmpty
        (Invoke-ReadmeLine 'Get-CassaMount -MountPoint /mnt/myfs | Where-Object Mounted').Output.Trim() | Should -BeNullOrEmpty
    }
}
