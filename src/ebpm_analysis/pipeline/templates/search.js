(function(){document.querySelectorAll('input[type=search][id$="-q"]').forEach(function(box){
if(box.dataset.ebpmBound)return;box.dataset.ebpmBound='1';
var id=box.id.replace(/-q$/,'');var rows=document.querySelectorAll('#'+id+' tbody tr');
var n=document.getElementById(id+'-n');box.addEventListener('input',function(){var q=box.value.trim().toLowerCase();
var k=0;rows.forEach(function(r){var hit=!q||r.textContent.toLowerCase().indexOf(q)>=0;
r.style.display=hit?'':'none';if(hit)k++;});
if(n)n.textContent=k+' / '+rows.length+' 行';});});})();
