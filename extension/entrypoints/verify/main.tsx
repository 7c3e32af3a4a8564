import { render } from 'preact';
import { VerifyApp } from '../../src/ui/verify/VerifyApp.tsx';
import '../../src/ui/styles/base.css';
import '../../src/ui/styles/panel.css';

render(<VerifyApp search={location.search} />, document.getElementById('app')!);
